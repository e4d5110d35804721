import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineService, ServiceBroker } from "flotilla";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TcpTransporter } from "../../src/transporters/tcp/index.js";
import { PrivateServer } from "../harness/index.js";

// The "done when" of issue 16: two nodes on tcp://, with UDP off and no rendezvous directory to
// share, find each other's addresses in etcd and call each other.

let etcd: PrivateServer;
/** A rendezvous directory the nodes could use: it must stay empty. */
const dir = mkdtempSync(join(tmpdir(), "flotilla-tcp-etcd-"));
const live: ServiceBroker[] = [];

beforeAll(async () => {
  etcd = await PrivateServer.start("etcd");
});
afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});
afterAll(async () => {
  await PrivateServer.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

function node(nodeID: string, name: string): { broker: ServiceBroker; tcp: TcpTransporter } {
  const tcp = new TcpTransporter({ host: "127.0.0.1", udp: false, dir });
  const broker = new ServiceBroker({
    nodeID,
    namespace: "done-when",
    logger: false,
    transporter: tcp,
    discovery: etcd.url,
    heartbeatInterval: 200,
    heartbeatTimeout: 2_000,
  });
  broker.createService(
    defineService({
      name,
      actions: {
        whoami: { handler: () => nodeID },
        ask: {
          handler: (ctx) => ctx.call(`${name === "alpha" ? "beta" : "alpha"}.whoami`, {}),
        },
      },
    }),
  );
  live.push(broker);
  return { broker, tcp };
}

describe("tcp:// with etcd discovery", () => {
  it("two nodes with no UDP and no shared directory find each other and call each other", async () => {
    const a = node("node-a", "alpha");
    const b = node("node-b", "beta");
    await a.broker.start();
    await b.broker.start();
    await a.broker.waitForServices("beta", 10_000);
    await b.broker.waitForServices("alpha", 10_000);

    await expect(a.broker.call("beta.whoami", {})).resolves.toBe("node-b");
    await expect(b.broker.call("alpha.whoami", {})).resolves.toBe("node-a");
    // A call chain across both nodes: a -> b -> a.
    await expect(a.broker.call("beta.ask", {})).resolves.toBe("node-a");

    // They met on the addresses etcd holds, by a direct session, not in the directory.
    expect(a.tcp.peers).toEqual(["node-b"]);
    expect(b.tcp.advertise()).toBe(`127.0.0.1:${b.tcp.address?.port}`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
