// Brokers with `discovery: "zk://..."` against a private ZooKeeper: nodes on tcp:// (no UDP, no
// rendezvous folder) find each other's addresses there and call each other; a node that leaves
// or dies leaves ZooKeeper; a ZooKeeper that dies does not stop the calls, and one that comes
// back without its data gets every node registered again.
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineService, ServiceBroker } from "flotilla";
import { createClient } from "node-zookeeper-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PrivateServer, until } from "../harness/index.js";

/** The brokers' heartbeat timeout, hence their ZooKeeper session timeout (the tick is 500 ms). */
const TTL = 2_000;
const root = fileURLToPath(new URL("../..", import.meta.url));

let zk: PrivateServer;
const brokers: ServiceBroker[] = [];
const children: ChildProcess[] = [];
let namespaces = 0;

const echo = (name: string) =>
  defineService({ name, actions: { whoami: { handler: (ctx) => ctx.broker.nodeID } } });

function broker(nodeID: string, namespace: string): ServiceBroker {
  const made = new ServiceBroker({
    nodeID,
    namespace,
    logger: false,
    transporter: "tcp://?host=127.0.0.1",
    discovery: zk.url,
    heartbeatInterval: 500,
    heartbeatTimeout: TTL,
  });
  brokers.push(made);
  return made;
}

/**
 * The node IDs ZooKeeper lists in `namespace`, read by a client of the test's own, as an
 * operator would with zkCli (a new one each time: a client that has seen a server's data cannot
 * connect to one that lost it).
 */
async function listed(namespace: string): Promise<string[]> {
  const client = createClient(zk.address, { sessionTimeout: 10_000, spinDelay: 100 });
  try {
    const connected = new Promise<void>((resolve) => client.once("connected", () => resolve()));
    client.connect();
    await connected;
    return await new Promise((resolve, reject) =>
      client.getChildren(`/flotilla/${namespace}/nodes`, (err, names) =>
        err ? reject(err) : resolve(names.map(decodeURIComponent).sort()),
      ),
    );
  } finally {
    client.close();
  }
}

/** A broker in a process of its own, serving `victim.whoami`; resolves once it has started. */
async function spawnNode(nodeID: string, namespace: string): Promise<ChildProcess> {
  const script = `
    import { defineService, ServiceBroker } from ${JSON.stringify(join(root, "src/index.ts"))};
    const broker = new ServiceBroker({
      nodeID: ${JSON.stringify(nodeID)}, namespace: ${JSON.stringify(namespace)}, logger: false,
      transporter: "tcp://?host=127.0.0.1", discovery: ${JSON.stringify(zk.url)},
      heartbeatInterval: 500, heartbeatTimeout: ${TTL},
    });
    broker.createService(defineService({ name: "victim", actions: { whoami: { handler: (ctx) => ctx.broker.nodeID } } }));
    await broker.start();
    console.log("started");
    setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => d.includes("started") && resolve());
    child.once("exit", (code) => reject(new Error(`the node exited with ${code}`)));
  });
  return child;
}

beforeAll(async () => {
  zk = await PrivateServer.start("zookeeper");
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  if (!zk.running) await zk.start();
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});
afterAll(() => PrivateServer.stopAll());

describe("ZooKeeper discovery", () => {
  it("lets tcp:// nodes with no UDP and no shared folder find and call each other", async () => {
    const namespace = `zk${++namespaces}`;
    const a = broker("a", namespace);
    const b = broker("b", namespace);
    a.createService(echo("alpha"));
    b.createService(echo("beta"));
    await a.start();
    await b.start();
    expect(await listed(namespace)).toEqual(["a", "b"]);
    await a.waitForServices("beta", 10_000);
    await b.waitForServices("alpha", 10_000);
    await expect(b.call("alpha.whoami", {})).resolves.toBe("a");
    await expect(a.call("beta.whoami", {})).resolves.toBe("b");
  });

  it("removes a node that stops at once, and one killed within its session timeout", async () => {
    const namespace = `zk${++namespaces}`;
    const a = broker("a", namespace);
    const b = broker("b", namespace);
    await a.start();
    await b.start();
    const victim = await spawnNode("victim", namespace);
    await a.waitForServices("victim", 10_000);
    await expect(a.call("victim.whoami", {})).resolves.toBe("victim");

    await b.stop();
    expect(await listed(namespace)).toEqual(["a", "victim"]);

    victim.kill("SIGKILL");
    await until(async () => !(await listed(namespace)).includes("victim"), {
      timeout: TTL * 3,
      message: "the killed node's session to expire",
    });
    await until(() => !a.registry.isAvailable("victim"), { message: "a to drop the victim" });
    // A node that starts now reads ZooKeeper: the dead node is not there to mislead it.
    const late = broker("late", namespace);
    await late.start();
    expect([...late.registry.remote.nodes.keys()]).toEqual(["a"]);
  });

  it("keeps calls going while ZooKeeper is down and registers every node again when it is back", async () => {
    const namespace = `zk${++namespaces}`;
    const a = broker("a", namespace);
    const b = broker("b", namespace);
    a.createService(echo("alpha"));
    await a.start();
    await b.start();
    await b.waitForServices("alpha", 10_000);
    await expect(b.call("alpha.whoami", {})).resolves.toBe("a");

    // Killed, and its data gone with it: no session, no znode survives the restart.
    await zk.kill();
    rmSync(join(zk.layout.dir, "data"), { recursive: true, force: true });
    for (let i = 0; i < 10; i++) await expect(b.call("alpha.whoami", {})).resolves.toBe("a");
    const c = broker("c", namespace);
    c.createService(echo("gamma"));
    const starting = c.start(); // waits for ZooKeeper
    for (let i = 0; i < 10; i++) await expect(b.call("alpha.whoami", {})).resolves.toBe("a");
    expect(b.registry.isAvailable("alpha")).toBe(true);

    await zk.start();
    await starting;
    await until(async () => (await listed(namespace)).join() === "a,b,c", {
      timeout: TTL * 5,
      message: "every node to be registered again",
    });
    await c.waitForServices("alpha", 10_000);
    await expect(c.call("alpha.whoami", {})).resolves.toBe("a");
    await b.waitForServices("gamma", 10_000);
    await expect(b.call("gamma.whoami", {})).resolves.toBe("c");
  });
});
