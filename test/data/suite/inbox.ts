import { describe, expect, it } from "vitest";
import { until } from "../../harness/index.js";
import type { DataKit } from "../fixtures.js";
import { billing, handled, recording } from "./services.js";

/** Durable handlers with `inbox: true`: each message applied once. */
export function inboxTests(kit: () => DataKit): void {
  describe("the inbox", () => {
    it("applies a message delivered twice once", async () => {
      const k = kit();
      const name = k.name("billing");
      const runs: (string | undefined)[] = [];
      const booked = await recording(k, "payment.booked", "books");
      const node = await k.start(billing(name, (ctx) => runs.push(ctx.messageID)));
      const deliveries = handled(node, "payment.received");

      await node.emit("payment.received", { amount: 5 }, { durable: true, messageID: "pay-1" });
      await node.emit("payment.received", { amount: 5 }, { durable: true, messageID: "pay-1" });
      await node.emit("payment.received", { amount: 7 }, { durable: true, messageID: "pay-2" });
      await until(() => deliveries.length >= 3, { message: "three deliveries" });

      expect(deliveries.map((d) => d.error)).toEqual([undefined, undefined, undefined]);
      expect(deliveries.map((d) => d.messageID).sort()).toEqual(["pay-1", "pay-1", "pay-2"]);
      expect([...runs].sort()).toEqual(["pay-1", "pay-2"]);
      await expect(node.call(`${name}.ledger`)).resolves.toEqual([
        { message_id: "pay-1", amount: 5 },
        { message_id: "pay-2", amount: 7 },
      ]);
      await until(() => booked.length >= 2, { message: "the booked events" });
      expect(booked.map((d) => d.params)).toEqual(
        expect.arrayContaining([{ messageID: "pay-1" }, { messageID: "pay-2" }]),
      );
    });

    it("rolls back the inbox record and the writes of a handler that throws; the retry applies the effect once", async () => {
      const k = kit();
      const name = k.name("billing");
      const attempts: (number | undefined)[] = [];
      const booked = await recording(k, "payment.booked", "books");
      const node = await k.start(
        billing(name, (ctx) => {
          attempts.push(ctx.attempt);
          if (ctx.attempt === 1) throw new Error("the ledger is flaky");
        }),
      );
      const deliveries = handled(node, "payment.received");

      await node.emit("payment.received", { amount: 5 }, { durable: true, messageID: "pay-1" });
      await until(() => deliveries.some((d) => d.error === undefined), {
        message: "a successful retry",
      });
      expect(attempts).toEqual([1, 2]);
      expect(deliveries.map((d) => (d.error as Error | undefined)?.message)).toEqual([
        "the ledger is flaky",
        undefined,
      ]);
      await expect(node.call(`${name}.ledger`)).resolves.toEqual([
        { message_id: "pay-1", amount: 5 },
      ]);

      // A second payment's event comes after the first's (same key): by then a copy of the
      // rolled-back attempt's event would be here.
      await node.emit("payment.received", { amount: 7 }, { durable: true, messageID: "pay-2" });
      await until(() => booked.length >= 2, { message: "the booked events" });
      expect(booked.map((d) => d.params)).toEqual([{ messageID: "pay-1" }, { messageID: "pay-2" }]);
    });
  });
}
