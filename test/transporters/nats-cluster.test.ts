import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { durableNames } from "../../src/transporters/nats/durable-names.js";
import { requireServer, SHARED, until } from "../harness/index.js";
import { NatsCluster } from "../harness/nats-cluster.js";
import { CallLoop } from "../integration/broker-restart.js";

// Flotilla nodes on a 3-server NATS cluster (private nats-server processes with routes and
// JetStream), connected with `nats://a,b,c`; one server is SIGKILLed under load and started
// again. Idempotent calls must all succeed (the broker's retries cover the gap) and every
// durable event whose emit was confirmed must be handled (its stream keeps 3 replicas).

let cluster: NatsCluster;
const live: ServiceBroker[] = [];

beforeAll(async () => {
  cluster = await NatsCluster.start({ size: 3 });
}, 60_000);
afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});
afterAll(() => cluster?.cleanup());

const namespace = (tag: string) => `cl-${tag}-${process.pid}-${randomBytes(3).toString("hex")}`;

function node(ns: string, nodeID: string, options: BrokerOptions = {}): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID,
    namespace: ns,
    logger: false,
    transporter: `${cluster.url}?replicas=3&ackWait=5000`,
    ...options,
  });
  live.push(broker);
  return broker;
}

/** Successful records started at or after `time`. */
const okSince = (loop: CallLoop, time: number) => loop.since(time).filter((r) => !r.error).length;

describe("a 3-server NATS cluster with one server killed under load", () => {
  it("idempotent calls: none fails", async () => {
    const ns = namespace("calls");
    const served = new Map<string, number>();
    const echo = (tag: string) =>
      defineService({
        name: "echo",
        actions: {
          say: {
            idempotent: true,
            handler: () => {
              served.set(tag, (served.get(tag) ?? 0) + 1);
              // A little work per call, so that calls are always in flight when the server dies.
              return new Promise((resolve) => setTimeout(resolve, 2, "ok"));
            },
          },
        },
      });
    const services = [node(ns, "svc-1"), node(ns, "svc-2")];
    for (const [i, s] of services.entries()) s.createService(echo(`svc-${i + 1}`));
    // The broker's retries outlast a reconnect: a node whose server dies redials another at once,
    // or after `reconnectWait` (1 s plus up to 0.5 s jitter) when it dialed that server less
    // than that ago; meanwhile its sends fail fast and retryably. A request lost in the dead
    // server's buffers is noticed after `requestTimeout` (2 s here instead of 10) and retried.
    const caller = node(ns, "caller", {
      requestTimeout: 2_000,
      retry: { retries: 20, delay: 50, maxDelay: 500 },
    });
    await Promise.all([...services, caller].map((b) => b.start()));
    await until(() => caller.registry.remote.actionEndpoints("echo.say").length === 2, {
      timeout: 10_000,
      message: "the caller to see both echo nodes",
    });

    const loop = new CallLoop(() => caller.call("echo.say", {}), 8);
    try {
      await until(() => okSince(loop, 0) >= 300, { timeout: 10_000, message: "300 calls" });
      // The server most of this test's nodes are on: the one whose loss hurts most.
      const { index, clients } = await cluster.busiest(ns);
      expect(clients).toBeGreaterThan(0);
      const killed = Date.now();
      await cluster.kill(index);
      await until(() => okSince(loop, killed) >= 500, {
        timeout: 30_000,
        message: "500 calls after the kill",
      });
      const restarted = Date.now();
      await cluster.restart(index);
      await until(() => okSince(loop, restarted) >= 300, {
        timeout: 30_000,
        message: "300 calls after the restart",
      });
      // The restarted server is a member of the cluster again, with routes to both others.
      expect((await cluster.member(index).view())?.routes).toBe(2);
    } finally {
      await loop.stop();
    }
    const failed = loop.records.filter((r) => r.error);
    const slowest = Math.max(...loop.records.map((r) => r.settled - r.started));
    console.info(
      `nats cluster, calls: ${loop.records.length} made, ${failed.length} failed, ` +
        `slowest ${slowest} ms; served ${JSON.stringify(Object.fromEntries(served))}`,
    );
    expect(failed.map((r) => r.error)).toEqual([]);
    expect(served.size).toBe(2);
  }, 120_000);

  it("durable events emitted while a server dies: none lost", async () => {
    const ns = namespace("durable");
    const handled = new Map<string, number>();
    const ledger = defineService({
      name: "ledger",
      events: {
        "orders.placed": {
          durable: true,
          handler: (ctx) => {
            const id = ctx.messageID ?? "";
            handled.set(id, (handled.get(id) ?? 0) + 1);
          },
        },
      },
    });
    const consumers = [node(ns, "ledger-1"), node(ns, "ledger-2")];
    for (const c of consumers) c.createService(ledger);
    const publisher = node(ns, "shop");
    await Promise.all([...consumers, publisher].map((b) => b.start()));
    await publisher.waitForServices("ledger", 10_000);

    // Emits with their own message IDs; an emit the server did not confirm is sent again with
    // the same ID (JetStream stores it once), as a careful publisher would.
    const confirmed: string[] = [];
    const confirmedAt: number[] = [];
    const unsent: string[] = [];
    let refused = 0;
    let seq = 0;
    let running = true;
    const emitter = async () => {
      while (running) {
        const id = `order-${++seq}`;
        for (;;) {
          try {
            await publisher.emit("orders.placed", { id }, { messageID: id, durable: true });
            confirmed.push(id);
            confirmedAt.push(Date.now());
            break;
          } catch {
            refused += 1;
            // Stopping: the test failed already; an emit that cannot get through stays unsent.
            if (!running) {
              unsent.push(id);
              break;
            }
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      }
    };
    const emitters = Array.from({ length: 4 }, emitter);

    const admin = await connect({ servers: cluster.members.map((m) => m.address) });
    let killedName = "";
    let killedAt = 0;
    let durableStats = { replicas: 0, handledAtKill: 0 };
    try {
      await until(() => confirmed.length >= 200, { timeout: 15_000, message: "200 emits" });
      // The stream keeps three copies; its leader is the server to kill (the hardest case).
      const jsm = await jetstreamManager(admin);
      const info = await jsm.streams.info(durableNames(ns).stream);
      durableStats = { replicas: info.config.num_replicas, handledAtKill: handled.size };
      expect(info.config.num_replicas).toBe(3);
      killedName = info.cluster?.leader ?? "";
      const index = cluster.members.findIndex((m) => m.name === killedName);
      expect(index).toBeGreaterThanOrEqual(0);
      await admin.close();
      const atKill = confirmed.length;
      killedAt = Date.now();
      await cluster.kill(index);
      await until(() => confirmed.length >= atKill + 300, {
        timeout: 30_000,
        message: "300 emits after the kill",
      });
      // With the server still dead: everything confirmed so far is handled, so none of it
      // depended on that server (its copies live on the two others).
      const beforeRestart = [...confirmed];
      await until(() => beforeRestart.every((id) => handled.has(id)), {
        timeout: 30_000,
        message: "the events confirmed so far to be handled without the dead server",
      });
      const atRestart = confirmed.length;
      await cluster.restart(index);
      await until(() => confirmed.length >= atRestart + 200, {
        timeout: 30_000,
        message: "200 emits after the restart",
      });
    } finally {
      running = false;
      await Promise.all(emitters);
      await admin.close().catch(() => undefined);
    }
    await until(() => confirmed.every((id) => handled.has(id)), {
      timeout: 30_000,
      message: "every confirmed event to be handled",
    });
    const lost = confirmed.filter((id) => !handled.has(id));
    const twice = [...handled.values()].filter((n) => n > 1).length;
    // The longest time without a confirmed emit after the kill: the stream's new leader elected.
    const gaps = confirmedAt
      .filter((t) => t > killedAt)
      .map((t, i, all) => t - (all[i - 1] ?? killedAt));
    const outage = Math.max(0, ...gaps.slice(0, 50));
    console.info(
      `nats cluster, durable events: ${confirmed.length} confirmed (${refused} emits refused and sent again), ` +
        `${handled.size} handled, ${lost.length} lost, ${twice} handled more than once; ` +
        `stream leader ${killedName} killed after ${durableStats.handledAtKill} handled, R${durableStats.replicas}, ` +
        `emits stalled ${outage} ms`,
    );
    expect(lost).toEqual([]);
    expect(unsent).toEqual([]);
    // Nothing handled that was not emitted.
    expect([...handled.keys()].filter((id) => !confirmed.includes(id))).toEqual([]);
  }, 120_000);
});

describe("replicas of durable streams", () => {
  it("are 1 to 5: another number fails the start, before any server is dialed", async () => {
    for (const bad of ["0", "6", "2.5"]) {
      const broker = node(namespace("bad"), `bad-${bad}`, {
        transporter: `nats://127.0.0.1:4222?replicas=${bad}`,
      });
      await expect(broker.start()).rejects.toMatchObject({
        code: "INVALID_TRANSPORTER_URL",
        message: expect.stringContaining("'replicas'"),
      });
    }
  });

  it("more than 1 on a single server (JetStream not clustered): start fails, saying so", async () => {
    await requireServer("nats");
    const broker = node(namespace("single"), "single", {
      transporter: `${SHARED.nats.url}?replicas=3`,
    });
    broker.createService({ name: "m", events: { "x.y": { durable: true, handler() {} } } });
    const err = await broker.start().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_TRANSPORTER_URL" });
    expect((err as Error).message).toContain("needs a JetStream cluster");
  });
});
