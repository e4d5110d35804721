// The ZooKeeper discoverer on its own, against a private ZooKeeper: what a node's context hears
// (the view of the other nodes, the connection) through joins, leaves, crashes and the server's
// own faults: a kill, a restart, a restart that lost every session, a start while it is down.
import { rmSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../../src/observability/logger.js";
import type { DiscovererContext } from "../../src/registry/discoverers/discoverer.js";
import { parseDiscoveryUrl, resolveDiscoverer } from "../../src/registry/discoverers/index.js";
import { ZooKeeperDiscoverer } from "../../src/registry/discoverers/zookeeper.js";
import { PrivateServer, runWithout, until } from "../harness/index.js";

/** Session timeout asked for: the private server's tick is 500 ms, so 2 s is granted. */
const TTL = 2_000;

/** A node's context: the view it was told, the connection changes, its log lines. */
class Node {
  readonly view = new Map<string, string>();
  readonly connection: boolean[] = [];
  readonly lines: { level: number; msg: string }[] = [];
  readonly abort = new AbortController();
  readonly discoverer: ZooKeeperDiscoverer;
  readonly context: DiscovererContext;
  entry: string;

  constructor(
    readonly nodeID: string,
    url: string,
    namespace: string,
  ) {
    this.entry = JSON.stringify({ sender: nodeID, version: 1 });
    const logger: Logger = pino(
      { level: "debug" },
      { write: (l: string) => this.lines.push(JSON.parse(l)) },
    );
    this.discoverer = new ZooKeeperDiscoverer(url, parseDiscoveryUrl(url).options);
    this.context = {
      nodeID,
      namespace,
      logger,
      ttl: TTL,
      signal: this.abort.signal,
      entry: () => this.entry,
      onSnapshot: (entries) => {
        this.view.clear();
        for (const [id, value] of entries) this.view.set(id, String(value));
      },
      onPut: (id, value) => this.view.set(id, String(value)),
      onDelete: (id) => this.view.delete(id),
      onConnection: (up) => this.connection.push(up),
    };
  }

  start(): Promise<void> {
    return this.discoverer.start(this.context);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.discoverer.stop();
  }

  async halt(): Promise<void> {
    this.abort.abort();
    await this.discoverer.halt();
  }

  sees(nodeID: string): boolean {
    return this.view.has(nodeID);
  }
}

/**
 * A TCP proxy to ZooKeeper whose open connections can be frozen: bytes stop flowing, with no FIN
 * or RST, as on a link that died silently (a peer's host gone, a NAT entry dropped). Connections
 * made after the freeze pass.
 */
async function silentLinkProxy(target: number) {
  const links = new Set<{ frozen: boolean; sockets: Socket[] }>();
  const proxy = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    const link = { frozen: false, sockets: [client, upstream] };
    links.add(link);
    client.on("data", (d) => link.frozen || upstream.write(d));
    upstream.on("data", (d) => link.frozen || client.write(d));
    // A frozen link passes no close either: the client must find out by itself.
    const end = () => {
      if (link.frozen) return;
      for (const s of link.sockets) s.destroy();
      links.delete(link);
    };
    for (const s of link.sockets) s.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `zk://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    freeze: () => {
      for (const link of links) link.frozen = true;
    },
    close: async () => {
      for (const link of links) for (const s of link.sockets) s.destroy();
      links.clear();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}

let server: PrivateServer;
const nodes: Node[] = [];
let namespaces = 0;

/** Nodes in a namespace of their own, so tests do not see each other's nodes. */
function cluster(...ids: string[]): Node[] {
  const namespace = `t${++namespaces}`;
  const made = ids.map((id) => new Node(id, server.url, namespace));
  nodes.push(...made);
  return made;
}

beforeAll(async () => {
  server = await PrivateServer.start("zookeeper");
});
afterEach(async () => {
  if (!server.running) await server.start();
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});
afterAll(() => PrivateServer.stopAll());

describe("ZooKeeper discoverer", () => {
  it("shows each node the others, their changes, and a graceful leave at once", async () => {
    const [a, b] = cluster("a", "b/1") as [Node, Node];
    await a.start();
    await b.start();
    // b registered before reading, so its first view holds a; a learns of b by its watch.
    expect(b.sees("a")).toBe(true);
    await until(() => a.sees("b/1"), { message: "a to see b/1" });

    b.entry = JSON.stringify({ sender: "b/1", version: 2 });
    await b.discoverer.update();
    await until(() => a.view.get("b/1") === b.entry, { message: "a to see b's new entry" });

    await b.stop();
    // Deleted by the leave itself: no session timeout to wait for.
    await until(() => !a.sees("b/1"), { timeout: TTL / 2, message: "b to be gone at once" });
  });

  it("drops a crashed node once its session expires", async () => {
    const [a, b] = cluster("a", "b") as [Node, Node];
    await a.start();
    await b.start();
    await until(() => a.sees("b"), { message: "a to see b" });
    await b.halt();
    expect(a.sees("b")).toBe(true);
    await until(() => !a.sees("b"), { timeout: TTL * 3, message: "b's session to expire" });
    expect(a.connection).toEqual([]);
  });

  it("keeps the view while ZooKeeper is down and writes the newest entry when it is back", async () => {
    const [a, b] = cluster("a", "b") as [Node, Node];
    await a.start();
    await b.start();
    await until(() => a.sees("b"), { message: "a to see b" });

    await server.kill();
    await until(() => a.connection.at(-1) === false && b.connection.at(-1) === false, {
      message: "both to notice",
    });
    expect([...a.view.keys()].sort()).toEqual(["a", "b"]);
    b.entry = JSON.stringify({ sender: "b", version: 2 });
    await b.discoverer.update(); // resolves at once while unreachable

    await server.start();
    await until(() => a.connection.at(-1) === true && b.connection.at(-1) === true, {
      timeout: 10_000,
      message: "both to reconnect",
    });
    await until(() => a.view.get("b") === b.entry, { timeout: 10_000, message: "b's new entry" });
    expect([...b.view.keys()].sort()).toEqual(["a", "b"]);
  });

  it("registers again with a new session when ZooKeeper lost every session", async () => {
    const [a, b] = cluster("a", "b") as [Node, Node];
    await a.start();
    await b.start();
    await until(() => a.sees("b"), { message: "a to see b" });

    await server.kill();
    rmSync(join(server.layout.dir, "data"), { recursive: true, force: true });
    await server.start();

    // Their old sessions are unknown to the new server: both open new ones and write their
    // entries again; the folder is made again too.
    await until(
      () =>
        a.lines.some((l) => l.msg.includes("opening a new session")) &&
        b.lines.some((l) => l.msg.includes("opening a new session")),
      { timeout: 10_000, message: "both sessions to expire" },
    );
    await until(() => a.connection.at(-1) === true && b.connection.at(-1) === true, {
      timeout: 10_000,
      message: "both to be back",
    });
    const late = new Node("c", server.url, a.context.namespace);
    nodes.push(late);
    await late.start();
    expect([...late.view.keys()].sort()).toEqual(["a", "b", "c"]);
    await until(() => a.sees("c") && b.sees("c"), { message: "a and b to see c" });
  });

  it("waits for a ZooKeeper that is down, saying so once, and registers when it comes", async () => {
    const [a, b] = cluster("a", "b") as [Node, Node];
    await a.start();
    await server.kill();
    const starting = b.start();
    await until(() => b.lines.some((l) => l.msg.startsWith("Waiting for ZooKeeper")), {
      message: "the waiting line",
    });
    await server.start();
    await starting;
    expect(b.lines.filter((l) => l.msg.startsWith("Waiting for ZooKeeper"))).toHaveLength(1);
    expect(b.sees("a")).toBe(true);
    await until(() => a.sees("b"), { timeout: 10_000, message: "a to see b" });
  });

  it("lets a node restarted under the same ID replace its earlier run's entry at once", async () => {
    const [observer, first, marker] = cluster("observer", "x", "marker") as [Node, Node, Node];
    await observer.start();
    await first.start();
    await marker.start();
    await until(() => observer.sees("x") && observer.sees("marker"), { message: "both seen" });
    // Both crash together: their sessions expire together.
    await first.halt();
    await marker.halt();
    const second = new Node("x", server.url, observer.context.namespace);
    nodes.push(second);
    second.entry = JSON.stringify({ sender: "x", version: "second run" });
    await second.start();
    await until(() => observer.view.get("x") === second.entry, {
      timeout: TTL / 2,
      message: "the new run's entry before the old session expires",
    });
    await until(() => !observer.sees("marker"), {
      timeout: TTL * 3,
      message: "the old sessions to expire",
    });
    // The old session's expiry took nothing of the new run's.
    expect(observer.view.get("x")).toBe(second.entry);
  });

  it("notices a link to ZooKeeper that went silent, dials again and catches up", async () => {
    const proxy = await silentLinkProxy(server.port);
    try {
      const namespace = `t${++namespaces}`;
      const a = new Node("a", proxy.url, namespace);
      const b = new Node("b", server.url, namespace);
      nodes.push(a, b);
      await a.start();
      proxy.freeze(); // a's connection still looks open: no error, no close
      await b.start();
      await until(() => a.sees("b"), { timeout: TTL * 4, message: "a to see b over a new link" });
      expect(a.lines.some((l) => l.msg.includes("stopped answering"))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("gives up a start when its signal aborts, leaving nothing behind", async () => {
    const [a] = cluster("a") as [Node];
    await server.kill();
    const starting = a.start();
    a.abort.abort(new Error("start timed out"));
    await expect(starting).rejects.toThrow("start timed out");
    await server.start();
    const [b] = cluster("b") as [Node];
    await b.start();
    expect([...b.view.keys()]).toEqual(["b"]);
  });

  it("is what zk:// and zookeeper:// URLs name", async () => {
    for (const url of ["zk://127.0.0.1:2181", "zookeeper://h1:2181,h2/shop"]) {
      expect(await resolveDiscoverer(url)).toBeInstanceOf(ZooKeeperDiscoverer);
    }
  });

  it("without node-zookeeper-client, fails the start with the npm install line", async () => {
    const out = await runWithout(
      ["node-zookeeper-client"],
      `const { ServiceBroker } = await import("./src/index.ts");
      const broker = new ServiceBroker({ logger: false, transporter: "memory://", discovery: "zk://127.0.0.1:1" });
      const err = await broker.start().catch((e) => e);
      console.log(JSON.stringify({ code: err.code, message: err.message }));`,
    );
    expect(JSON.parse(out)).toEqual({
      code: "MISSING_DEPENDENCY",
      message: expect.stringContaining("npm install node-zookeeper-client"),
    });
  });

  it("refuses a discovery URL with an option it does not know, or a host it cannot dial", () => {
    for (const url of ["zk://127.0.0.1:2181?ttl=5", "zk://[::1]:2181"]) {
      expect(() => new ZooKeeperDiscoverer(url, parseDiscoveryUrl(url).options)).toThrow(
        expect.objectContaining({ code: "INVALID_DISCOVERY_URL" }),
      );
    }
  });
});
