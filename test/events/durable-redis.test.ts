import { defineService } from "flotilla";
import { afterAll, describe, expect, it } from "vitest";
import { streamKeys } from "../../src/transporters/redis/stream-keys.js";
import { durableNodes, type Log, recorder } from "./durable-kit.js";
import {
  deleteNamespace,
  REDIS_PORT,
  REDIS_URL,
  redisReachable,
  uniqueNamespace,
  until,
  withRedis,
} from "./fixtures/redis-helpers.js";

// Durable events through the public broker API on the Redis of this machine (Redis Streams).
// Every test has a namespace of its own; afterAll deletes every key they made.
const reachable = await redisReachable();
const namespaces: string[] = [];

afterAll(async () => {
  if (!reachable) return;
  for (const ns of namespaces) await deleteNamespace(ns);
});

function namespace(tag: string): string {
  const ns = uniqueNamespace(tag);
  namespaces.push(ns);
  return ns;
}

const node = durableNodes(REDIS_URL);

/** Entries in a stream, and what its group holds unacknowledged. */
function streamState(key: string, group: string) {
  return withRedis(REDIS_PORT, async (redis) => ({
    length: await redis.xlen(key),
    pending: ((await redis.xpending(key, group)) as [number])[0],
  }));
}

describe.skipIf(!reachable)("durable events on redis://", () => {
  it("keep an event emitted while its consumer is down, and deliver it when the consumer starts", async () => {
    const ns = namespace("down");
    const log: Log = [];
    // A first run of the consumer creates its group on the event's stream, then stops.
    const first = node(ns, [recorder("mailer", "order.placed", log)]);
    await first.start();
    await first.stop();

    const emitter = node(ns);
    await emitter.start();
    await emitter.emit("order.placed", { orderId: 7 }, { durable: true });
    // The emit resolved after XADD: the entry is in the stream, not yet delivered to the group.
    const key = streamKeys(ns).stream("order.placed");
    expect(await streamState(key, "mailer")).toEqual({ length: 1, pending: 0 });

    const second = node(ns, [recorder("mailer", "order.placed", log)]);
    await second.start();
    await until(() => log.length === 1, "the delivery");
    expect(log[0]).toMatchObject({ params: { orderId: 7 }, attempt: 1 });
    expect(log[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    await until(async () => (await streamState(key, "mailer")).pending === 0, "the ack");
    await second.stop();
    expect(log).toHaveLength(1);
  });

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

  it("give every group each message once, shared among the members of a group", async () => {
    const ns = namespace("groups");
    const log: Log = [];
    const a = node(ns, [recorder("email", "user.created", log, "email-a")]);
    const b = node(ns, [recorder("email", "user.created", log, "email-b")]);
    const c = node(ns, [recorder("audit", "user.created", log, "audit")]);
    const emitter = node(ns);
    await Promise.all([a.start(), b.start(), c.start(), emitter.start()]);
    const total = 200;
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        emitter.emit("user.created", { i }, { durable: true }),
      ),
    );
    await until(() => log.length === total * 2, `${total * 2} deliveries`);
    const email = log.filter((l) => l.tag.startsWith("email"));
    const audit = log.filter((l) => l.tag === "audit");
    expect(new Set(email.map((l) => l.id)).size).toBe(total);
    expect(new Set(audit.map((l) => l.id)).size).toBe(total);
    const shares = ["email-a", "email-b"].map((t) => email.filter((l) => l.tag === t).length);
    expect(Math.min(...shares)).toBeGreaterThan(0);
    // Nothing else comes (no group got a message twice): both groups acknowledged everything.
    const key = streamKeys(ns).stream("user.created");
    for (const group of ["email", "audit"]) {
      await until(async () => (await streamState(key, group)).pending === 0, `${group}'s acks`);
    }
    expect(log.length).toBe(total * 2);
    console.info(`members of 'email' shared ${total} messages as ${shares.join(" / ")}`);
  });

  it("retry a failing handler with backoff, same message ID, attempts 1, 2, 3", async () => {
    const ns = namespace("retry");
    const seen: { id: string | undefined; attempt: number | undefined; at: number }[] = [];
    const billing = defineService({
      name: "billing",
      events: {
        "invoice.due": {
          durable: true,
          maxRetries: 3,
          backoff: { delay: 40, factor: 2 },
          handler(ctx) {
            seen.push({ id: ctx.messageID, attempt: ctx.attempt, at: Date.now() });
            if (seen.length < 3) throw new Error("ledger locked");
          },
        },
      },
    });
    const consumer = node(ns, [billing]);
    await consumer.start();
    await consumer.emit("invoice.due", { n: 1 }, { durable: true });
    await until(() => seen.length === 3, "three attempts");
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(1);
    const keys = streamKeys(ns);
    // Acknowledged, and the retry copies are gone from the delayed set and the retry stream.
    await until(
      async () =>
        (await streamState(keys.retries("invoice.due", "billing"), "billing")).length === 0,
      "the ack of the last retry",
    );
    expect(
      await withRedis(REDIS_PORT, (r) => r.zcard(keys.delayed("invoice.due", "billing"))),
    ).toBe(0);
    expect(await streamState(keys.stream("invoice.due"), "billing")).toMatchObject({ pending: 0 });
    expect(await consumer.deadLetters.list()).toEqual([]);
    expect(seen).toHaveLength(3);
  });

  it("dead-letter after the retries with the error; list and replay to that group only", async () => {
    const ns = namespace("dlq");
    let failing = true;
    const ledger: Log = [];
    const audit: Log = [];
    const ledgerService = defineService({
      name: "ledger",
      events: {
        "payment.failed": {
          durable: true,
          maxRetries: 2,
          backoff: { delay: 1 },
          handler(ctx) {
            ledger.push({ tag: "ledger", id: ctx.messageID, attempt: ctx.attempt, params: null });
            if (failing) throw new Error("ledger locked");
          },
        },
      },
    });
    const consumer = node(ns, [ledgerService, recorder("audit", "payment.failed", audit)]);
    await consumer.start();
    await consumer.emit("payment.failed", { p: 9 }, { durable: true });
    await until(async () => (await consumer.deadLetters.list()).length > 0, "the dead letter");
    const letters = await consumer.deadLetters.list();
    expect(consumer.deadLetters.persistent).toBe(true);
    expect(letters).toHaveLength(1);
    const letter = letters[0]!;
    expect(letter).toMatchObject({
      stream: "payment.failed",
      info: {
        group: "ledger",
        code: "INTERNAL_ERROR",
        message: "ledger locked",
        attempts: 3,
        nodeID: consumer.nodeID,
      },
    });
    expect(letter.info.failedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(ledger.map((l) => l.attempt)).toEqual([1, 2, 3]);
    expect(letter.id).toBe(ledger[0]?.id);
    // The dead letter holds the event packet as it was published.
    expect(Buffer.from(letter.data).toString()).toContain('"payload":{"p":9}');
    // Listing does not consume them.
    expect(await consumer.deadLetters.list()).toHaveLength(1);

    failing = false;
    await expect(consumer.deadLetters.replay(letter.id)).resolves.toBe(true);
    await until(() => ledger.length === 4, "the replayed delivery");
    expect(ledger[3]).toMatchObject({ id: letter.id, attempt: 1 });
    const retries = streamKeys(ns).retries("payment.failed", "ledger");
    await until(async () => (await streamState(retries, "ledger")).length === 0, "the ack");
    expect(audit).toHaveLength(1); // the other group did not get it again
    expect(await consumer.deadLetters.list()).toEqual([]);
    await expect(consumer.deadLetters.replay(letter.id)).resolves.toBe(false);
  });

  it("broadcast: every instance gets each message", async () => {
    const ns = namespace("broadcast");
    const log: Log = [];
    const svc = (tag: string) =>
      recorder("cache", "cache.flush", log, tag, { kind: "broadcast" as const });
    const a = node(ns, [svc("a")]);
    const b = node(ns, [svc("b")]);
    await Promise.all([a.start(), b.start()]);
    await a.emit("cache.flush", { all: true }, { durable: true });
    await until(() => log.length === 2, "both instances");
    expect(log.map((l) => l.tag).sort()).toEqual(["a", "b"]);
    expect(log[0]?.id).toBe(log[1]?.id);
    // One group per instance: `cache.<nodeID>`.
    const groups = await withRedis(REDIS_PORT, (r) =>
      r.xinfo("GROUPS", streamKeys(ns).stream("cache.flush")),
    );
    const names = (groups as string[][]).map((g) => g[g.indexOf("name") + 1]).sort();
    expect(names).toEqual([`cache.${a.nodeID}`, `cache.${b.nodeID}`].sort());
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
    await until(() => done.size === 60, "60 jobs done on their second attempt");
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBe(3);
  });

  it("trim the event's stream to what some group has not acknowledged", async () => {
    const ns = namespace("trim");
    const log: Log = [];
    // With claimIdle 300 ms, members tidy every 300 ms (trimming included).
    const url = `${REDIS_URL}?claimIdle=300`;
    const consumer = node(ns, [recorder("sink", "tick", log)], { transporter: url });
    await consumer.start();
    for (let i = 0; i < 50; i++) await consumer.emit("tick", { i }, { durable: true });
    await until(() => log.length === 50, "50 deliveries");
    const key = streamKeys(ns).stream("tick");
    // Everything acknowledged: the stream shrinks to its last entry (the group's position).
    await until(async () => (await streamState(key, "sink")).length <= 1, "the trim", 5_000);
  });
});
