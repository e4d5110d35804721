import { createDeduplicator, defineService, type Logger } from "flotilla";
import { waitForEvent } from "flotilla/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { jsonSerializer } from "../../../src/serializers/json.js";
import { decodePacket } from "../../../src/transit/codec.js";
import { until } from "../../harness/index.js";
import { startBroker, testBroker } from "../../helpers.js";

function capture(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

// Without a transporter that has durable streams (tcp://, or none) a node keeps streams of its own
// in this process: its durable handlers get the same engine (retries, dead letters of the same
// shape), and events do not survive a crash. The shared scenarios run on memory:// in memory.test.ts.
describe("durable handlers on node-local streams", () => {
  it("retry a failing handler with backoff, keeping the message ID, then succeed", async () => {
    const seen: { id: string | undefined; attempt: number | undefined }[] = [];
    const broker = await startBroker(
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
    // Each attempt is one delivery: the third one succeeds.
    const done = waitForEvent(broker, "orders.placed", (_, ctx) => ctx.attempt === 3);
    await broker.emit("orders.placed", { orderId: 1 });
    expect((await done).error).toBeUndefined();
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(1);
    expect(seen[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("dead-letter a message after its retries, with the error attached, and replay it", async () => {
    let failing = true;
    let handled = 0;
    const broker = await startBroker(
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
    const failed = waitForEvent(broker, "orders.placed", (_, ctx) => ctx.attempt === 3);
    await broker.emit("orders.placed", { orderId: 7 });
    expect(((await failed).error as Error).message).toBe("ledger locked");
    const letters = await until(async () => {
      const list = await broker.deadLetters.list();
      return list.length > 0 && list;
    });
    expect(broker.deadLetters.persistent).toBe(false);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      stream: "orders.placed",
      info: { group: "billing", code: "INTERNAL_ERROR", message: "ledger locked", attempts: 3 },
    });
    // The encoded event packet, as on the message brokers.
    const packet = decodePacket(jsonSerializer(), letters[0]!.data);
    expect(packet.body).toMatchObject({ event: "orders.placed", payload: { orderId: 7 } });

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
    await startBroker(
      defineService({ name: "a", events: { "x.happened": { durable: true, handler: () => {} } } }),
      { logger },
    );
    const warnings = lines.filter((l) => l.msg.includes("do not survive a crash"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.level).toBe(40);
  });

  it("refuses a durable handler on an event pattern", () => {
    const broker = testBroker();
    const def = { name: "p", events: { "orders.*": { durable: true, handler: () => {} } } };
    expect(() => broker.createService(def as never)).toThrow(/needs an exact event name/);
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
});
