import { defineService, FlotillaError, PacketTooLargeError } from "flotilla";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { until } from "../../harness/index.js";
import { type DataKit, rejection, shopDatabase } from "../fixtures.js";
import {
  FAST,
  handled,
  insertLedger,
  insertOrder,
  recording,
  sequence,
  shop,
  shopAndShipping,
  UUID,
  withCaller,
} from "./services.js";

/** Transactions, and the events they emit through the outbox. */
export function outboxTests(kit: () => DataKit): void {
  describe("transactions and the outbox", () => {
    it("publishes a committed event once to a durable handler on another node, with its message ID and the caller's request ID, meta and headers", async () => {
      const k = kit();
      const { name, log, node } = await shopAndShipping(k);

      await expect(
        node.call(
          `${name}.place`,
          { id: "o-1", messageID: "msg-o-1" },
          { requestID: "req-1", meta: { tenant: "acme" }, headers: { "x-trace": "trace-1" } },
        ),
      ).resolves.toEqual({ id: "o-1" });
      // A second event with the same key comes after the first: once it is here, a second
      // copy of the first would have come before it.
      await node.call(`${name}.place`, { id: "o-2" }, { requestID: "req-2" });
      await until(() => log.length >= 2, { message: "both events" });

      expect(log).toHaveLength(2);
      expect(log[0]).toEqual({
        params: { id: "o-1" },
        messageID: "msg-o-1",
        attempt: 1,
        requestID: "req-1",
        caller: name,
        meta: { tenant: "acme", step: "placed" },
        headers: { "x-trace": "trace-1", "x-step": "placed" },
      });
      expect(log[1]).toMatchObject({ params: { id: "o-2" }, requestID: "req-2" });
      expect(log[1]?.messageID).toMatch(UUID);
      await until(() => node.health().databases[name]?.outbox.published === 2, {
        message: "the relay's count of published events",
      });
    });

    it("leaves events in the outbox with relay: false, and another instance publishes them under the row's message ID", async () => {
      const k = kit();
      const { name, log, node: writer } = await shopAndShipping(k, { outbox: { relay: false } });
      await writer.call(`${name}.place`, { id: "o-1" });
      await writer.call(`${name}.place`, { id: "o-2" });
      const waiting = (await writer.call(`${name}.outbox`)) as string[];
      expect(waiting).toHaveLength(2);
      expect(log).toEqual([]);

      // The writer stops (a process that died after its commits); another instance relays.
      await writer.stop();
      await k.start(shop(name));
      await until(() => log.length >= 2, { message: "the events the other instance relayed" });
      expect(log.map((d) => d.messageID)).toEqual(waiting);
      expect(log.map((d) => d.params)).toEqual([{ id: "o-1" }, { id: "o-2" }]);
    });

    it("keeps committed events while the message broker refuses them, and publishes them once it takes them", async () => {
      const k = kit();
      const name = k.name("shop");
      // No consumer group reads `order.placed` yet: the memory streams refuse the publish.
      const node = await k.start(shop(name, { outbox: { pollInterval: 20 } }));
      await node.call(`${name}.place`, { id: "o-1" });
      await node.call(`${name}.place`, { id: "o-2" });
      const waiting = await until(
        () => {
          const db = node.health().databases[name];
          return db !== undefined && db.outbox.backlog === 2 && db.outbox.oldestAge > 0 && db;
        },
        { message: "a backlog of two in health" },
      );
      expect(waiting).toMatchObject({ ok: true, outbox: { published: 0, failed: 0 } });

      const log = await recording(k);
      await until(() => log.length >= 2, { message: "the events kept in the outbox" });
      // Order is promised only while publishes succeed: a retry of o-1 that the broker refused can
      // come after o-2 it took a moment later (docs/data.md, Guarantees).
      expect(log.map((d) => d.params)).toEqual(
        expect.arrayContaining([{ id: "o-1" }, { id: "o-2" }]),
      );
      expect(log).toHaveLength(2);
      await until(() => node.health().databases[name]?.outbox.backlog === 0, {
        message: "an empty backlog",
      });
    });

    it("rolls back the rows and the events of a transaction whose callback throws; the caller gets the error", async () => {
      const k = kit();
      const name = k.name("shop");
      const log = await recording(k);
      const { node, caller } = await withCaller(k, shop(name), name);

      await expect(
        caller.call(`${name}.place`, { id: "o-1", fail: "payment declined" }),
      ).rejects.toThrow("payment declined");
      await node.call(`${name}.place`, { id: "o-2" });
      await until(() => log.length >= 1, { message: "the committed event" });
      await expect(node.call(`${name}.list`)).resolves.toEqual(["o-2"]);
      expect(log.map((d) => d.params)).toEqual([{ id: "o-2" }]);
    });

    it("rolls back when a handler called inside the transaction throws, or a query in it fails", async () => {
      const k = kit();
      const name = k.name("shop");
      const payments = k.name("payments");
      const log = await recording(k);
      const declined = defineService({
        name: payments,
        actions: {
          charge: {
            handler() {
              throw new FlotillaError("The card was declined.", "CARD_DECLINED", 402);
            },
          },
        },
      });
      const { node, caller } = await withCaller(k, [declined, shop(name)], name);

      await expect(caller.call(`${name}.checkout`, { id: "o-1", payments })).rejects.toMatchObject({
        code: "CARD_DECLINED",
        status: 402,
        message: "The card was declined.",
      });
      await node.call(`${name}.place`, { id: "taken" });
      await expect(caller.call(`${name}.twice`, { id: "o-2-a" })).rejects.toMatchObject({
        code: "CONFLICT",
      });
      await node.call(`${name}.place`, { id: "zz-last" });
      await until(() => log.length >= 2, { message: "the two committed events" });
      await expect(node.call(`${name}.list`)).resolves.toEqual(["taken", "zz-last"]);
      expect(log.map((d) => d.params)).toEqual([{ id: "taken" }, { id: "zz-last" }]);
    });

    it("joins a transaction called inside another: a throw after the inner one rolls back both", async () => {
      const k = kit();
      const { name, log, node } = await shopAndShipping(k);

      await expect(node.call(`${name}.nested`, { fail: true })).rejects.toThrow(
        "the outer transaction fails",
      );
      await expect(node.call(`${name}.list`)).resolves.toEqual([]);
      await node.call(`${name}.nested`, { fail: false });
      await expect(node.call(`${name}.list`)).resolves.toEqual(["inner", "outer", "via-ctx-db"]);
      await until(() => log.length >= 1, { message: "the inner transaction's event" });
      await node.call(`${name}.place`, { id: "last" });
      await until(() => log.length >= 2, { message: "the event after it" });
      expect(log.map((d) => d.params)).toEqual([{ id: "inner" }, { id: "last" }]);
    });

    it("does not hand a finished transaction to the handlers of events emitted inside it", async () => {
      const k = kit();
      const name = k.name("audit");
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const node = await k.start(
        defineService({
          name,
          database: shopDatabase(),
          actions: {
            record: {
              params: z.object({ id: z.string() }),
              handler: (ctx) =>
                ctx.transaction(async (tx) => {
                  await insertOrder(tx.db, { id: ctx.params.id, item: "audited" });
                  // Plain emits (not tx.emit) from inside the transaction: their handlers
                  // start here and go on after the commit.
                  await ctx.emit("audit.local", { id: ctx.params.id });
                  await ctx.emit("audit.durable", { id: ctx.params.id }, { durable: true });
                }),
            },
            ledger: {
              handler: (ctx) =>
                ctx.db.selectFrom("ledger").select("message_id").orderBy("message_id").execute(),
            },
            list: {
              handler: async (ctx) =>
                (await ctx.db.selectFrom("orders").select("id").execute()).map((r) => r.id),
            },
          },
          events: {
            "audit.local": {
              async handler(ctx) {
                await released;
                await insertLedger(ctx.db, "local", 1);
              },
            },
            "audit.durable": {
              durable: true,
              inbox: true,
              maxRetries: 2,
              backoff: FAST,
              async handler(ctx) {
                await insertLedger(ctx.db, "durable", 1);
              },
            },
          },
        }),
      );
      const local = handled(node, "audit.local");
      const durable = handled(node, "audit.durable");
      await node.call(`${name}.record`, { id: "a-1" });
      release();
      await until(() => local.length > 0 && durable.length > 0, {
        message: "both handlers to finish",
      });
      expect([...local, ...durable].map((d) => d.error)).toEqual([undefined, undefined]);
      await expect(node.call(`${name}.ledger`)).resolves.toEqual([
        { message_id: "durable" },
        { message_id: "local" },
      ]);
      await expect(node.call(`${name}.list`)).resolves.toEqual(["a-1"]);
    });

    it("publishes the events of one key in commit order", async () => {
      const k = kit();
      const name = k.name("seq");
      const log = await recording(k, "seq.step", "reader");
      const node = await k.start(sequence(name));
      const steps = Array.from({ length: 50 }, (_, n) => n);
      for (const n of steps) await node.call(`${name}.step`, { n });
      await until(() => log.length >= 50, { timeout: 10_000, message: "fifty events" });
      expect(log.map((d) => (d.params as { n: number }).n)).toEqual(steps);
    });

    it("refuses an event larger than maxPacketSize in the transaction, which rolls back", async () => {
      const k = kit();
      const name = k.name("shop");
      const node = await k.start(shop(name), { maxPacketSize: 4096 });
      const ascii = await rejection(
        node.call(`${name}.big`, { id: "b-1", blob: "x".repeat(5000) }),
      );
      expect(ascii).toBeInstanceOf(PacketTooLargeError);
      expect(ascii).toMatchObject({ code: "PACKET_TOO_LARGE", status: 413 });
      // 2,000 characters, 6,000 bytes once encoded: the limit is in bytes.
      const wide = await rejection(node.call(`${name}.big`, { id: "b-2", blob: "€".repeat(2000) }));
      expect(wide).toMatchObject({ code: "PACKET_TOO_LARGE" });
      await expect(node.call(`${name}.list`)).resolves.toEqual([]);
      await node.call(`${name}.big`, { id: "b-3", blob: "small" });
      await expect(node.call(`${name}.list`)).resolves.toEqual(["b-3"]);
    });
    it("sets aside an event the message broker refuses for good: failed, not waiting, and not holding back the events after it", async () => {
      const k = kit();
      const { name, log, node } = await shopAndShipping(
        k,
        { outbox: { pollInterval: 20 } },
        { maxPacketSize: 4096 },
      );
      // The payload, meta and headers fit (tx.emit checks them); with the packet's own fields
      // (IDs, sender, event name) the packet does not: refused when published.
      await node.call(`${name}.big`, { id: "o-1", blob: "x".repeat(4030) });
      await node.call(`${name}.place`, { id: "o-2" });
      await until(() => log.length >= 1, { message: "the event after the refused one" });
      expect(log.map((d) => d.params)).toEqual([{ id: "o-2" }]);
      // The relay counts after its round: the delivery may come first.
      await until(
        () => {
          const outbox = node.health().databases[name]?.outbox;
          return outbox?.failed === 1 && outbox.published === 1;
        },
        { message: "the refused event counted as failed, the other as published" },
      );
      await node.stop();

      // Started again, its first probe reads the table: one failed row, and nothing waiting.
      const again = await k.start(shop(name, { outbox: { pollInterval: 20 } }));
      const outbox = await until(
        () => {
          const health = again.health().databases[name]?.outbox;
          return health?.failed === 1 && health;
        },
        { message: "the probe of the restarted node" },
      );
      expect(outbox).toEqual({ backlog: 0, oldestAge: 0, failed: 1, published: 0 });
      expect(again.health().ready).toBe(true);
    });
  });
}
