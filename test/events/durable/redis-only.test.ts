import { type BrokerOptions, defineService, type ServiceBroker } from "flotilla";
import { afterAll, describe, expect, it } from "vitest";
import { streamKeys } from "../../../src/transporters/redis/stream-keys.js";
import { PrivateServer, requireServer, SHARED, until } from "../../harness/index.js";
import { durableNodes, type Log, recorder } from "./kit.js";
import { deleteRedisNamespaces, withRedis } from "./servers.js";

// Durable events through the public broker API on the Redis of this machine (Redis Streams),
// beyond the shared suite (redis.test.ts). Every test has a namespace of its own; after the
// file, every key they made is deleted.
await requireServer("redis");
const { node, namespace } = durableNodes(() => SHARED.redis.url, deleteRedisNamespaces);
afterAll(() => PrivateServer.stopAll());

/** Entries in a stream, and what its group holds unacknowledged. */
function streamState(key: string, group: string) {
  return withRedis(async (redis) => ({
    length: await redis.xlen(key),
    pending: ((await redis.xpending(key, group)) as [number])[0],
  }));
}

/** Whether a durable emit of `ping` is confirmed (`false` when it is refused). */
const published = (emitter: ServiceBroker, n: number) =>
  emitter.emit("ping", { n }, { durable: true }).then(
    () => true,
    () => false,
  );

describe("durable events on redis://", () => {
  it("rejects an emit that no group would get, retryably", async () => {
    const ns = namespace("refused");
    const emitter = node(ns);
    await emitter.start();
    await expect(emitter.emit("nobody.listens", { a: 1 }, { durable: true })).rejects.toMatchObject(
      {
        code: "DURABLE_PUBLISH_FAILED",
        retryable: true,
        message: expect.stringMatching(/no consumer group reads 'nobody.listens'/),
      },
    );
  });

  it("never run more than `concurrency` handlers of a member at once, retries included", async () => {
    const ns = namespace("concurrency");
    let running = 0;
    let most = 0;
    const done = new Set<number>();
    const worker = defineService({
      name: "worker",
      events: {
        "job.run": {
          durable: true,
          concurrency: 3,
          backoff: { delay: 1 },
          async handler(ctx) {
            running++;
            most = Math.max(most, running);
            try {
              await new Promise((resolve) => setTimeout(resolve, 5));
              // Every first attempt fails: the retry stream and the event's stream both have
              // entries to read at once.
              if (ctx.attempt === 1) throw new Error("first try");
              done.add((ctx.params as { n: number }).n);
            } finally {
              running--;
            }
          },
        },
      },
    });
    const consumer = node(ns, [worker]);
    await consumer.start();
    await Promise.all(
      Array.from({ length: 60 }, (_, n) => consumer.emit("job.run", { n }, { durable: true })),
    );
    await until(() => done.size === 60, {
      timeout: 10_000,
      message: "60 jobs done on their second attempt",
    });
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBe(3);
  });

  it("trim the event's stream to what some group has not acknowledged", async () => {
    const ns = namespace("trim");
    const log: Log = [];
    // With claimIdle 300 ms, members tidy every 300 ms (trimming included).
    const url = `${SHARED.redis.url}?claimIdle=300`;
    const consumer = node(ns, [recorder("sink", "tick", log)], { transporter: url });
    await consumer.start();
    for (let i = 0; i < 50; i++) await consumer.emit("tick", { i }, { durable: true });
    await until(() => log.length === 50, { message: "50 deliveries" });
    const key = streamKeys(ns).stream("tick");
    // Everything acknowledged: the stream shrinks to its last entry (the group's position).
    await until(async () => (await streamState(key, "sink")).length <= 1, {
      message: "the trim",
    });
  });

  it("publishing fails fast while Redis is down, and consumers resume when it is back", async () => {
    const redis = await PrivateServer.start("redis", { persistent: true });
    const ns = namespace("outage");
    const log: number[] = [];
    const settings: BrokerOptions = { heartbeatTimeout: 60_000, circuitBreaker: false };
    const sink = defineService({
      name: "sink",
      events: {
        ping: { durable: true, handler: (ctx) => void log.push((ctx.params as { n: number }).n) },
      },
    });
    const consumer = node(ns, [sink], { ...settings, transporter: redis.url });
    const emitter = node(ns, [], { ...settings, transporter: redis.url });
    await Promise.all([consumer.start(), emitter.start()]);
    await emitter.emit("ping", { n: 1 }, { durable: true });
    await until(() => log.length === 1, { message: "the first event" });

    await redis.kill();
    // Until the client has noticed, a publish may still wait for its reply; after, none does.
    await until(async () => !(await published(emitter, 0)), {
      timeout: 10_000,
      message: "a publish to fail",
    });
    // Refused at once while Redis is down (the server only comes back after this settles), as
    // not connected: no publish waits in the client's offline queue.
    await expect(emitter.emit("ping", { n: 0 }, { durable: true })).rejects.toMatchObject({
      code: "DURABLE_PUBLISH_FAILED",
      retryable: true,
      cause: { code: "TRANSPORTER_NOT_CONNECTED" },
    });

    await redis.start();
    await until(() => published(emitter, 2), {
      timeout: 10_000,
      message: "a publish to succeed again",
    });
    await until(() => log.includes(2), { timeout: 15_000, message: "the consumer to read again" });
    expect(log.filter((n) => n === 0)).toEqual([]);
  }, 40_000);
});
