import { createDeduplicator, defineService, type Logger } from "flotilla";
import { createTestCluster, waitForEvent } from "flotilla/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { until } from "../conformance/suite.js";
import { testBroker } from "../helpers.js";

function capture(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

describe("durable handlers without a persistent transporter", () => {
  it("retry a failing handler with backoff, keeping the message ID, then succeed", async () => {
    const seen: { id: string | undefined; attempt: number | undefined }[] = [];
    const broker = testBroker();
    broker.createService(
      defineService({
        name: "mailer",
        events: {
          "orders.placed": {
            durable: true,
            maxRetries: 3,
            backoff: { delay: 1 },
            handler(ctx) {
              seen.push({ id: ctx.messageID, attempt: ctx.attempt });
              if (seen.length < 3) throw new Error("smtp down");
            },
          },
        },
      }),
    );
    await broker.start();
    const done = waitForEvent(broker, "orders.placed");
    await broker.emit("orders.placed", { orderId: 1 });
    expect((await done).error).toBeUndefined();
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(1);
    expect(seen[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("dead-letter a message after its retries, with the error attached, and replay it", async () => {
    let failing = true;
    let handled = 0;
    const broker = testBroker();
    broker.createService(
      defineService({
        name: "billing",
        events: {
          "orders.placed": {
            durable: true,
            maxRetries: 2,
            backoff: { delay: 1 },
            handler() {
              if (failing) throw new Error("ledger locked");
              handled += 1;
            },
          },
        },
      }),
    );
    await broker.start();
    const failed = waitForEvent(broker, "orders.placed");
    await broker.emit("orders.placed", { orderId: 7 });
    expect(((await failed).error as Error).message).toBe("ledger locked");
    const letters = await broker.deadLetters.list();
    expect(broker.deadLetters.persistent).toBe(false);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      stream: "orders.placed",
      info: { group: "billing", code: "INTERNAL_ERROR", message: "ledger locked", attempts: 3 },
    });
    expect(JSON.parse(Buffer.from(letters[0]!.data).toString())).toEqual({ orderId: 7 });

    failing = false;
    const replayed = waitForEvent(broker, "orders.placed");
    await expect(broker.deadLetters.replay(letters[0]!.id)).resolves.toBe(true);
    expect((await replayed).ctx.messageID).toBe(letters[0]!.id);
    expect(handled).toBe(1);
    expect(await broker.deadLetters.list()).toEqual([]);
    await expect(broker.deadLetters.replay("nope")).resolves.toBe(false);
  });

  it("logs once at start that durable events live in memory here", async () => {
    const { logger, lines } = capture();
    const broker = testBroker({ logger });
    broker.createService(
      defineService({ name: "a", events: { "x.happened": { durable: true, handler: () => {} } } }),
    );
    await broker.start();
    const warnings = lines.filter((l) => l.msg.includes("do not survive a crash"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.level).toBe(40);
  });

  it("refuses a durable handler on an event pattern", () => {
    const broker = testBroker();
    const def = { name: "p", events: { "orders.*": { durable: true, handler: () => {} } } };
    expect(() => broker.createService(def as never)).toThrow(/needs an exact event name/);
  });

  it("deliver across nodes of a non-persistent cluster, once per group", async () => {
    const cluster = createTestCluster();
    const log: string[] = [];
    const svc = (tag: string) =>
      defineService({
        name: "audit",
        events: {
          "user.created": {
            durable: true,
            handler: (ctx) => void log.push(`${tag}:${String(ctx.params.id)}`),
          },
        },
      });
    cluster.node("a").createService(svc("a"));
    cluster.node("b").createService(svc("b"));
    const emitter = cluster.node("emitter");
    try {
      await cluster.start();
      await until(
        () =>
          [...emitter.registry.remote.nodes.values()].filter((n) => n.info.services.length > 0)
            .length === 2,
      );
      for (let id = 0; id < 4; id++) await emitter.emit("user.created", { id });
      await until(() => log.length === 4);
      expect(log.filter((l) => l.startsWith("a")).length).toBe(2);
    } finally {
      await cluster.stop();
    }
  });

  it("createDeduplicator runs the work once per message ID, and again after a failure", async () => {
    const dedupe = createDeduplicator();
    let runs = 0;
    const ctx = { messageID: "m-1" };
    await expect(
      dedupe.once(ctx, () => Promise.reject(new Error("first try fails"))),
    ).rejects.toThrow();
    await expect(dedupe.once(ctx, () => ++runs)).resolves.toBe(1);
    await expect(dedupe.once(ctx, () => ++runs)).resolves.toBeUndefined();
    expect(runs).toBe(1);
    await dedupe.once({ messageID: undefined }, () => ++runs);
    expect(runs).toBe(2);
  });

  it("handler kinds: one per service, every instance, or a single handler in the whole cluster", async () => {
    const cluster = createTestCluster();
    const log: string[] = [];
    const svc = (name: string, tag: string) =>
      defineService({
        name,
        events: {
          "stock.low": { handler: () => void log.push(`${name}/balanced@${tag}`) },
          "stock.out": {
            kind: "broadcast",
            handler: () => void log.push(`${name}/broadcast@${tag}`),
          },
          "stock.audit": {
            kind: "single",
            durable: true,
            handler: () => void log.push(`${name}/single@${tag}`),
          },
        },
      });
    for (const tag of ["a", "b"]) {
      const node = cluster.node(tag);
      node.createService(svc("mail", tag));
      node.createService(svc("sms", tag));
    }
    const emitter = cluster.node("emitter");
    try {
      await cluster.start();
      await until(
        () =>
          [...emitter.registry.remote.nodes.values()].filter((n) => n.info.services.length === 2)
            .length === 2,
      );
      await emitter.emit("stock.low", {});
      await until(() => log.length === 2);
      expect(log.map((l) => l.split("@")[0]).sort()).toEqual(["mail/balanced", "sms/balanced"]);
      log.length = 0;
      await emitter.emit("stock.out", {});
      await until(() => log.length === 4);
      expect(log.sort()).toEqual([
        "mail/broadcast@a",
        "mail/broadcast@b",
        "sms/broadcast@a",
        "sms/broadcast@b",
      ]);
      log.length = 0;
      for (let i = 0; i < 4; i++) await emitter.emit("stock.audit", {});
      await until(() => log.length === 4);
      // Anything more would arrive before a later event (delivery keeps order per link).
      await emitter.emit("stock.low", {});
      await until(() => log.length === 6);
      // Exactly one handler per event across both services and both nodes.
      expect(log.filter((l) => l.includes("/single@"))).toHaveLength(4);
    } finally {
      await cluster.stop();
    }
  });
});
