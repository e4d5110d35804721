import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { crashNode } from "flotilla/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { nodeIdOfKey, nodesPath } from "../../src/registry/discoverers/keys.js";
import { TcpTransporter } from "../../src/transporters/tcp/index.js";
import { freePort, PrivateServer, until } from "../harness/index.js";

// etcd discovery when etcd itself fails: killed (SIGKILL), restarted on the same data directory,
// or answering that the nodes are gone while they still run (the "empty push" Dubbo and Nacos
// users met). Nodes talk over tcp:// with no rendezvous directory, so etcd is the only registry.

const TTL = 2_000;
const dir = mkdtempSync(join(tmpdir(), "flotilla-etcd-faults-"));
const live: ServiceBroker[] = [];
let seq = 0;

afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});
afterAll(async () => {
  await PrivateServer.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

interface Node {
  broker: ServiceBroker;
  /** The node's log lines, parsed. */
  logs: { msg?: string; level?: number }[];
}

/** Whether a node logged a line holding `text`. */
const logged = (node: Node, text: string) => node.logs.some((l) => l.msg?.includes(text));

function cluster(etcd: PrivateServer) {
  seq += 1;
  const namespace = `faults-${process.pid}-${seq}`;
  const node = (nodeID: string, service?: string, extra: BrokerOptions = {}): Node => {
    const logs: Node["logs"] = [];
    const broker = new ServiceBroker({
      nodeID,
      namespace,
      logger: { level: "info", destination: { write: (line) => logs.push(JSON.parse(line)) } },
      transporter: `tcp://?udp=false&dir=${encodeURIComponent(dir)}`,
      discovery: etcd.url,
      heartbeatInterval: 100,
      heartbeatTimeout: TTL,
      ...extra,
    });
    if (service !== undefined) {
      broker.createService(
        defineService({ name: service, actions: { who: { handler: () => nodeID } } }),
      );
    }
    live.push(broker);
    return { broker, logs };
  };
  /** The nodes etcd lists now, with the lease each entry is on. */
  const listed = async (): Promise<Map<string, string>> => {
    const client = new Etcd3({ hosts: etcd.address });
    try {
      const folder = nodesPath("/flotilla", namespace);
      const read = await client.getAll().prefix(`${folder}/`).exec();
      return new Map(
        read.kvs.map((kv) => [nodeIdOfKey(folder, kv.key.toString()) ?? "?", kv.lease]),
      );
    } finally {
      client.close();
    }
  };
  return { namespace, node, listed };
}

/** Calls `action` from `caller` over and over for `ms` of wall time; every call must succeed. */
async function keepCalling(caller: ServiceBroker, action: string, expected: string, ms: number) {
  const end = Date.now() + ms;
  let calls = 0;
  await until(
    async () => {
      expect(await caller.call(action, {})).toBe(expected);
      calls += 1;
      return Date.now() > end;
    },
    { timeout: ms + 5_000, interval: 50, message: `calls to ${action} for ${ms} ms` },
  );
  return calls;
}

describe("etcd discovery under registry faults", () => {
  it("etcd killed: calls go on; a node started meanwhile waits, joins when etcd is back, and all re-register", async () => {
    const etcd = await PrivateServer.start("etcd");
    const { node, listed } = cluster(etcd);
    const provider = node("provider", "stock");
    const consumer = node("consumer");
    await provider.broker.start();
    await consumer.broker.start();
    await consumer.broker.waitForServices("stock", 10_000);
    const leasesBefore = await listed();

    await etcd.kill();
    await until(
      () => logged(provider, "Registry unreachable") && logged(consumer, "Registry unreachable"),
      {
        message: "both nodes to notice etcd is gone",
      },
    );
    // Longer than any lease: nobody drops anybody while the registry cannot say.
    expect(await keepCalling(consumer.broker, "stock.who", "provider", 2 * TTL)).toBeGreaterThan(0);

    const late = node("late", "billing");
    const lateStart = late.broker.start();
    await until(() => logged(late, "Waiting for the registry"), {
      message: "the late node to wait",
    });
    expect(late.broker.state).toBe("starting");

    await etcd.start(); // the same port and data directory
    await lateStart;
    await consumer.broker.waitForServices("billing", 10_000);
    await expect(consumer.broker.call("billing.who", {})).resolves.toBe("late");
    await expect(late.broker.call("stock.who", {})).resolves.toBe("provider");

    // The nodes that were running took a new lease and wrote their entries on it again.
    await until(
      () =>
        logged(provider, "Registry reachable again") &&
        logged(consumer, "Registry reachable again"),
    );
    const leasesAfter = await listed();
    expect([...leasesAfter.keys()].sort()).toEqual(["consumer", "late", "provider"]);
    expect(leasesAfter.get("provider")).not.toBe(leasesBefore.get("provider"));
    expect(leasesAfter.get("consumer")).not.toBe(leasesBefore.get("consumer"));
    await etcd.cleanup();
  });

  it("a node that cannot reach etcd by its dependencyTimeout fails to start, leaving nothing open", async () => {
    const nowhere = `etcd://127.0.0.1:${await freePort()}`;
    const tcp = new TcpTransporter({ udp: false, dir });
    const logs: Node["logs"] = [];
    const broker = new ServiceBroker({
      nodeID: "lonely",
      logger: { level: "info", destination: { write: (line) => logs.push(JSON.parse(line)) } },
      transporter: tcp,
      discovery: nowhere,
      dependencyTimeout: 1_500,
    });
    live.push(broker);
    await expect(broker.start()).rejects.toMatchObject({ code: "WAIT_TIMEOUT" });
    expect(logs.filter((l) => l.msg?.startsWith("Waiting for the registry"))).toHaveLength(1);
    expect(tcp.address).toBeUndefined(); // its listener is closed again
    expect(broker.state).toBe("stopped");
  });

  it("a node that crashes while etcd is down is dropped, and stays dropped when etcd is back", async () => {
    const etcd = await PrivateServer.start("etcd");
    const { node, listed } = cluster(etcd);
    const victim = node("victim", "doomed");
    const observer = node("observer");
    await victim.broker.start();
    await observer.broker.start();
    await observer.broker.waitForServices("doomed", 10_000);
    await etcd.kill();
    await crashNode(victim.broker); // its tcp session ends: the observer needs no registry for that
    await until(() => !observer.broker.registry.isAvailable("doomed"));
    await etcd.start();
    await until(async () => !(await listed()).has("victim"), {
      timeout: 3 * TTL + 5_000,
      message: "the victim's entry to expire",
    });
    // etcd kept the crashed node's lease over its restart; its entry was read again, but the
    // observer, which saw the node go, did not take it back in the meantime.
    expect(observer.broker.registry.remote.nodes.has("victim")).toBe(false);
    expect(observer.logs.filter((l) => l.msg === "Node 'victim' connected")).toHaveLength(1);
    await etcd.cleanup();
  });

  it("empty push: etcd answering that live nodes are gone does not empty the consumers' view", async () => {
    const etcd = await PrivateServer.start("etcd");
    const { namespace, node, listed } = cluster(etcd);
    const provider = node("provider", "stock");
    const consumer = node("consumer");
    await provider.broker.start();
    await consumer.broker.start();
    await consumer.broker.waitForServices("stock", 10_000);

    // Someone deletes every node's entry behind their backs.
    const client = new Etcd3({ hosts: etcd.address });
    try {
      await client.delete().prefix(`${nodesPath("/flotilla", namespace)}/`);
    } finally {
      client.close();
    }
    await until(() => logged(consumer, "empty-push protection"), {
      message: "the consumer to hold the provider",
    });
    expect(consumer.broker.registry.isAvailable("stock")).toBe(true);
    await keepCalling(consumer.broker, "stock.who", "provider", 500);
    // The nodes write their entries again; nobody was dropped meanwhile.
    await until(async () => (await listed()).size === 2, { message: "the entries to be back" });
    await keepCalling(consumer.broker, "stock.who", "provider", 200);
    expect(consumer.broker.registry.remote.nodes.has("provider")).toBe(true);
    expect(logged(consumer, "Node 'provider' left")).toBe(false);
    expect(logged(consumer, "Node 'provider' lost")).toBe(false);
    await etcd.cleanup();
  });
});
