import { defineService } from "flotilla";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/index.js";
import { durableNames } from "../../src/transporters/amqp/durable-queues.js";
import { AmqpTransporter, loadAmqplib } from "../../src/transporters/amqp/index.js";
import { durableNodes, type Log, recorder } from "./durable-kit.js";
import {
  deadLettersOf,
  deleteDurableNamespace,
  queueDepth,
  RABBIT_URL,
  rabbitReachable,
  uniqueNamespace,
  until,
} from "./fixtures/amqp-helpers.js";

// Durable events through the public broker API on the RabbitMQ of this machine. Every test has a
// namespace of its own; afterAll deletes every queue and exchange they declared.
const reachable = await rabbitReachable();
/** Namespace -> stream -> groups, to delete afterwards. */
const declared = new Map<string, Record<string, string[]>>();

afterAll(async () => {
  if (!reachable) return;
  for (const [namespace, groups] of declared) {
    await deleteDurableNamespace(RABBIT_URL, namespace, groups);
  }
});

/** A namespace whose durable groups (stream -> groups) are deleted after the file. */
function namespaceWith(tag: string, groups: Record<string, string[]>): string {
  const namespace = uniqueNamespace(tag);
  declared.set(namespace, groups);
  return namespace;
}

const node = durableNodes(RABBIT_URL);

describe.skipIf(!reachable)("durable events on amqp://", () => {
  it("keep an event emitted while its consumer is down, and deliver it when the consumer starts", async () => {
    const ns = namespaceWith("down", { "order.placed": ["mailer"] });
    const log: Log = [];
    // A first run of the consumer declares its group's durable queue, then stops.
    const first = node(ns, [recorder("mailer", "order.placed", log)]);
    await first.start();
    await first.stop();

    const emitter = node(ns);
    await emitter.start();
    await emitter.emit("order.placed", { orderId: 7 }, { durable: true });
    // The emit resolved after the confirm: RabbitMQ holds the message in the group's queue.
    const queue = durableNames("flotilla", ns).group("order.placed", "mailer");
    expect(await queueDepth(RABBIT_URL, queue)).toBe(1);

    const second = node(ns, [recorder("mailer", "order.placed", log)]);
    await second.start();
    await until(() => log.length === 1, "the delivery");
    expect(log[0]).toMatchObject({ params: { orderId: 7 }, attempt: 1 });
    expect(log[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => second.health().inFlight === 0, "the ack");
    await second.stop();
    expect(await queueDepth(RABBIT_URL, queue)).toBe(0);
  });

  it("rejects an emit RabbitMQ did not keep: no group queue is bound to the event", async () => {
    const ns = namespaceWith("refused", {});
    const emitter = node(ns);
    await emitter.start();
    await expect(emitter.emit("nobody.listens", { a: 1 }, { durable: true })).rejects.toMatchObject(
      {
        code: "DURABLE_PUBLISH_FAILED",
        retryable: true,
        message: expect.stringMatching(/no queue is bound/),
      },
    );
  });

  it("give every group each message once, shared among the members of a group", async () => {
    const ns = namespaceWith("groups", { "user.created": ["email", "audit"] });
    const log: Log = [];
    const a = node(ns, [recorder("email", "user.created", log, "email-a")]);
    const b = node(ns, [recorder("email", "user.created", log, "email-b")]);
    const c = node(ns, [recorder("audit", "user.created", log, "audit")]);
    const emitter = node(ns);
    await Promise.all([a.start(), b.start(), c.start(), emitter.start()]);
    const total = 40;
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
    expect(email.filter((l) => l.tag === "email-a").length).toBeGreaterThan(0);
    expect(email.filter((l) => l.tag === "email-b").length).toBeGreaterThan(0);
    // Nothing else comes (no group got a message twice).
    await Promise.all(node.live.map((n) => until(() => n.health().inFlight === 0, "acks")));
    expect(log.length).toBe(total * 2);
  });

  it("retry a failing handler with backoff, same message ID, attempts 1, 2, 3", async () => {
    const ns = namespaceWith("retry", { "invoice.due": ["billing"] });
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
    await until(() => consumer.health().inFlight === 0, "the ack");
    expect(await consumer.deadLetters.list()).toEqual([]);
    expect(seen).toHaveLength(3);
  });

  it("dead-letter after the retries with the error; list and replay to that group only", async () => {
    const ns = namespaceWith("dlq", { "payment.failed": ["ledger", "audit"] });
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
    const letters = await deadLettersOf(consumer);
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
    // Listing does not consume them.
    expect(await consumer.deadLetters.list()).toHaveLength(1);

    failing = false;
    await expect(consumer.deadLetters.replay(letter.id)).resolves.toBe(true);
    await until(() => ledger.length === 4, "the replayed delivery");
    expect(ledger[3]).toMatchObject({ id: letter.id, attempt: 1 });
    await until(() => consumer.health().inFlight === 0, "the ack");
    expect(audit).toHaveLength(1); // the other group did not get it again
    expect(await consumer.deadLetters.list()).toEqual([]);
    await expect(consumer.deadLetters.replay(letter.id)).resolves.toBe(false);
  });

  it("flotilla dlq list | show | replay work against RabbitMQ", async () => {
    const ns = namespaceWith("cli", { "refund.requested": ["refunds"] });
    let failing = true;
    const handled: (string | undefined)[] = [];
    const consumer = node(ns, [
      defineService({
        name: "refunds",
        events: {
          "refund.requested": {
            durable: true,
            maxRetries: 0,
            handler(ctx) {
              if (failing) throw new Error("bank offline");
              handled.push(ctx.messageID);
            },
          },
        },
      }),
    ]);
    await consumer.start();
    await consumer.emit("refund.requested", { refund: 3 }, { durable: true });
    await deadLettersOf(consumer);
    const cli = async (...args: string[]) => {
      let out = "";
      const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
        out += String(chunk);
        return true;
      });
      try {
        const code = await main([...args, "-t", RABBIT_URL, "-n", ns]);
        return { code, json: JSON.parse(out) as unknown };
      } finally {
        write.mockRestore();
      }
    };
    const listed = await cli("dlq", "list");
    expect(listed.code).toBe(0);
    expect(listed.json).toEqual([
      expect.objectContaining({
        event: "refund.requested",
        group: "refunds",
        message: "bank offline",
      }),
    ]);
    const id = (listed.json as { id: string }[])[0]!.id;
    const shown = await cli("dlq", "show", id);
    expect(shown.json).toMatchObject({ id, packet: { payload: { refund: 3 } } });

    failing = false;
    expect((await cli("dlq", "replay", id)).json).toEqual({ replayed: id });
    await until(() => handled.length === 1, "the replayed delivery");
    expect(handled).toEqual([id]);
    expect((await cli("dlq", "list")).json).toEqual([]);
  });

  it("resume consuming after a lost connection; publish fails fast while it is down", async () => {
    const ns = namespaceWith("reconnect", { "stock.changed": ["search"] });
    const log: Log = [];
    const transporter = new AmqpTransporter(await loadAmqplib(), {
      reconnectDelay: { min: 200, max: 200 },
    });
    const consumer = node(ns, [recorder("search", "stock.changed", log)], {
      transporter,
      heartbeatTimeout: 30_000,
    });
    const emitter = node(ns);
    await Promise.all([consumer.start(), emitter.start()]);
    await emitter.emit("stock.changed", { sku: 1 }, { durable: true });
    await until(() => log.length === 1, "the first delivery");

    // The socket dies under the node, as a network cut would.
    transporter.session?.socket?.destroy(new Error("cut"));
    await until(() => consumer.health().transporter?.connected === false, "the loss");
    const t0 = Date.now();
    const down = await consumer.emit("stock.changed", {}, { durable: true }).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(100);
    expect(down).toMatchObject({ code: "DURABLE_PUBLISH_FAILED", retryable: true });

    await emitter.emit("stock.changed", { sku: 2 }, { durable: true });
    await until(() => consumer.health().transporter?.connected === true, "the reconnect");
    const sku = (n: number) => log.filter((l) => (l.params as { sku?: number }).sku === n);
    await until(() => sku(2).length === 1, "the delivery after the reconnect");
    // An ack still in the socket's buffer at the cut is lost with it: sku 1 may come again, as
    // attempt 2 (at least once).
    expect(sku(1).map((l) => l.attempt)).toEqual(sku(1).length === 1 ? [1] : [1, 2]);
  });

  it("broadcast: every instance gets each message", async () => {
    const ns = namespaceWith("broadcast", { "cache.flush": [] });
    const log: Log = [];
    const svc = (tag: string) =>
      recorder("cache", "cache.flush", log, tag, { kind: "broadcast" as const });
    const a = node(ns, [svc("a")]);
    const b = node(ns, [svc("b")]);
    await Promise.all([a.start(), b.start()]);
    // Per-instance groups: `cache.<nodeID>`.
    declared.get(ns)!["cache.flush"] = [`cache.${a.nodeID}`, `cache.${b.nodeID}`];
    await a.emit("cache.flush", { all: true }, { durable: true });
    await until(() => log.length === 2, "both instances");
    expect(log.map((l) => l.tag).sort()).toEqual(["a", "b"]);
    expect(log[0]?.id).toBe(log[1]?.id);
  });
});
