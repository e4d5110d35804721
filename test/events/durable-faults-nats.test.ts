import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  type BrokerOptions,
  type Context,
  defineService,
  ServiceBroker,
  type ServiceDefinition,
} from "flotilla";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NatsTransporter } from "../../src/transporters/nats/index.js";
import {
  JetStreamAdmin,
  PrivateJetStream,
  requireNats,
  uniqueNamespace,
  until,
} from "./fixtures/nats-helpers.js";

// The faults of issue 5 on NATS JetStream: a consumer process killed with SIGKILL mid-handler, a
// server restart under 10,000 confirmed publishes (on a private nats-server with its own store;
// the shared one on 4222 is never stopped), and a handler that always fails.
const root = fileURLToPath(new URL("../..", import.meta.url));
const reachable = await requireNats();
const live: ServiceBroker[] = [];
const children: ChildProcess[] = [];
const namespaces = new Set<string>();
let admin: JetStreamAdmin;

beforeAll(async () => {
  if (reachable) admin = await JetStreamAdmin.open();
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});

afterAll(async () => {
  if (!reachable) return;
  await admin.deleteNamespaces(namespaces);
  await admin.close();
});

function namespace(tag: string): string {
  const ns = uniqueNamespace(tag);
  namespaces.add(ns);
  return ns;
}

/** A node on `server` (`host:port`) whose durable consumers use `ackWait`. */
function node(
  server: string,
  ns: string,
  services: ServiceDefinition[] = [],
  options: BrokerOptions & { ackWait?: number } = {},
) {
  const { ackWait, ...rest } = options;
  const transporter = new NatsTransporter({ servers: [server], ackWait });
  const broker = new ServiceBroker({ namespace: ns, logger: false, transporter, ...rest });
  for (const s of services) broker.createService(s);
  live.push(broker);
  return broker;
}

/** Resolves with the first stdout line of `child` that starts with `prefix`. */
function line(child: ChildProcess, prefix: string, timeout = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`no '${prefix}' from the child`)), timeout);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const hit = buffered.split("\n").find((l) => l.startsWith(prefix));
      if (hit === undefined) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      resolve(hit);
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`the child exited (${code}) before '${prefix}'`)),
    );
  });
}

describe.skipIf(!reachable)("durable events on nats:// under faults", () => {
  it("a message held by a consumer process killed with SIGKILL goes to another instance after ack_wait", async () => {
    const ns = namespace("kill");
    const ackWait = 2000;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/events/fixtures/nats-consumer.ts"],
      { cwd: root, env: { ...process.env, NAMESPACE: ns, ACK_WAIT: String(ackWait) } },
    );
    children.push(child);
    await line(child, "ready");

    const emitter = node("127.0.0.1:4222", ns);
    await emitter.start();
    const busy = line(child, "busy");
    await emitter.emit("job.run", { job: 1 }, { durable: true });
    const [, heldID, heldAttempt] = (await busy).split(" ");
    expect(heldAttempt).toBe("1");

    // Another member of the group joins while the victim holds the message (and keeps telling
    // the server it is still working on it).
    const rescued: { id: string | undefined; attempt: number | undefined; at: number }[] = [];
    const worker = defineService({
      name: "worker",
      events: {
        "job.run": {
          durable: true,
          handler(ctx: Context) {
            rescued.push({ id: ctx.messageID, attempt: ctx.attempt, at: Date.now() });
          },
        },
      },
    });
    const rescuer = node("127.0.0.1:4222", ns, [worker], { ackWait });
    await rescuer.start();
    expect(rescued).toEqual([]);

    const killed = Date.now();
    child.kill("SIGKILL");
    await until(() => rescued.length === 1, "the redelivery to the other instance", 15_000);
    expect(rescued[0]).toMatchObject({ id: heldID, attempt: 2 });
    // Redelivered once the victim's last "still working" ran out: within ack_wait of the kill.
    const after = rescued[0]!.at - killed;
    console.log(JSON.stringify({ ackWait, redeliveredAfterKillMs: after }));
    expect(after).toBeGreaterThan(ackWait / 2);
    expect(after).toBeLessThan(ackWait + 3000);
    await until(() => rescuer.health().inFlight === 0, "the ack");
    await until(
      async () => (await admin.consumer(ns, "job.run", "worker")).unacked === 0,
      "the server to have the ack",
    );
    expect(rescued).toHaveLength(1);
  }, 40_000);

  it("every confirmed event of 10,000 is handled across a server restart (kill -9) mid-publish", async () => {
    const server = await PrivateJetStream.start();
    const address = `127.0.0.1:${server.port}`;
    const ns = uniqueNamespace("restart");
    try {
      const total = 10_000;
      // n -> the message IDs it was handled under; and every delivery.
      const handled = new Map<number, Set<string>>();
      let deliveries = 0;
      const sink = defineService({
        name: "sink",
        events: {
          "load.item": {
            durable: true,
            concurrency: 100,
            handler(ctx: Context<{ n: number }>) {
              deliveries += 1;
              const ids = handled.get(ctx.params.n) ?? new Set<string>();
              ids.add(ctx.messageID ?? "");
              handled.set(ctx.params.n, ids);
            },
          },
        },
      });
      // Heartbeats outlast the outage: the nodes keep each other; no breaker opens meanwhile.
      const options = { heartbeatTimeout: 60_000, circuitBreaker: false as const, ackWait: 5000 };
      const consumer = node(address, ns, [sink], options);
      const emitter = node(address, ns, [], options);
      await Promise.all([consumer.start(), emitter.start()]);

      let next = 0;
      let confirmed = 0;
      const rejections: { code?: string; retryable?: boolean }[] = [];
      const worker = async () => {
        for (let n = next++; n < total; n = next++) {
          for (;;) {
            try {
              await emitter.emit("load.item", { n }, { durable: true });
              confirmed += 1;
              break;
            } catch (err) {
              rejections.push(err as { code?: string; retryable?: boolean });
              // The caller's own backoff before it publishes again (a new message ID).
              await new Promise((resolve) => setTimeout(resolve, 25));
            }
          }
        }
      };
      const started = Date.now();
      const publishing = Promise.all(Array.from({ length: 100 }, worker));

      await until(() => confirmed >= 3000, "3,000 confirmed publishes", 30_000);
      const killedAt = confirmed;
      await server.kill();
      await until(() => rejections.length > 0, "publishes to fail while the server is down");
      await server.restart();
      await publishing;
      const published = Date.now() - started;
      await until(() => handled.size === total, `all ${total} events handled`, 60_000);
      await until(() => consumer.health().inFlight === 0, "the last acks");

      const redelivered = deliveries - [...handled.values()].reduce((s, ids) => s + ids.size, 0);
      const republished = [...handled.values()].filter((ids) => ids.size > 1).length;
      const lost = total - handled.size;
      console.log(
        JSON.stringify({
          total,
          confirmed,
          killedAfterConfirmed: killedAt,
          rejectedPublishes: rejections.length,
          publishMs: published,
          deliveries,
          lost,
          redelivered,
          republished,
        }),
      );
      expect(confirmed).toBe(total);
      expect(lost).toBe(0);
      for (const err of rejections) {
        expect(err).toMatchObject({ code: "DURABLE_PUBLISH_FAILED", retryable: true });
      }
    } finally {
      await Promise.allSettled(live.splice(0).map((b) => b.stop()));
      await server.stop();
    }
  }, 120_000);

  it("a handler that always fails ends in the dead letters after its retries", async () => {
    const ns = namespace("always");
    const attempts: (number | undefined)[] = [];
    const fragile = defineService({
      name: "fragile",
      events: {
        "thing.broke": {
          durable: true,
          maxRetries: 3,
          backoff: { delay: 5 },
          handler(ctx: Context) {
            attempts.push(ctx.attempt);
            throw new Error("never works");
          },
        },
      },
    });
    const broker = node("127.0.0.1:4222", ns, [fragile]);
    await broker.start();
    await broker.emit("thing.broke", { x: 1 });
    await until(async () => (await broker.deadLetters.list()).length === 1, "the dead letter");
    const [letter] = await broker.deadLetters.list();
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(letter).toMatchObject({
      stream: "thing.broke",
      info: { group: "fragile", code: "INTERNAL_ERROR", message: "never works", attempts: 4 },
    });
    await until(() => broker.health().inFlight === 0, "the ack");
    await until(
      async () => (await admin.consumer(ns, "thing.broke", "fragile")).unacked === 0,
      "the original to be acked",
    );
    expect(attempts).toHaveLength(4); // nothing more after the dead-lettering
  });
});
