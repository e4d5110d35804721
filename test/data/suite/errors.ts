import { ConflictError, DatabaseError, driverErrorOf } from "flotilla";
import { describe, expect, it } from "vitest";
import { type DataKit, errorText, rejection } from "../fixtures.js";
import { store, withCaller } from "./services.js";

/** Coded errors for what the database refuses, without SQL or values in them. */
export function errorTests(kit: () => DataKit): void {
  describe("errors", () => {
    it("answers a duplicate insert with CONFLICT 409 on another node, without SQL or values in the error", async () => {
      const k = kit();
      const name = k.name("store");
      const { node, caller } = await withCaller(k, store(name), name);
      const row = { id: "dup-id-7f3", item: "s3cret-item-value" };

      await caller.call(`${name}.add`, row);
      const remote = await rejection(caller.call(`${name}.add`, row));
      expect(remote).toBeInstanceOf(ConflictError);
      expect(remote).toMatchObject({
        code: "CONFLICT",
        status: 409,
        retryable: false,
        data: { reason: k.target.conflictReason },
      });
      expect(driverErrorOf(remote)).toBeUndefined();
      const text = errorText(remote).toLowerCase();
      for (const secret of ["dup-id-7f3", "s3cret-item-value", "orders", "item", "insert"]) {
        expect(text).not.toContain(secret);
      }
      // The stacks that travel with it name code, never the values.
      const stacks = errorText(remote, { stack: true });
      for (const value of ["dup-id-7f3", "s3cret-item-value"]) expect(stacks).not.toContain(value);

      // On the node that ran the query, the driver's own error is there for its code.
      const local = await rejection(node.call(`${name}.add`, row));
      expect(local).toBeInstanceOf(ConflictError);
      expect(String((driverErrorOf(local) as Error | undefined)?.message)).toMatch(
        k.target.conflictDriverMessage,
      );
      expect(errorText(local, { stack: true })).not.toContain("s3cret-item-value");
    });

    it("answers a broken query with DB_ERROR naming the database's reason, without the SQL", async () => {
      const k = kit();
      const name = k.name("store");
      const { caller } = await withCaller(k, store(name), name);

      const err = await rejection(caller.call(`${name}.broken`));
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err).toMatchObject({
        code: "DB_ERROR",
        status: 500,
        retryable: false,
        data: { reason: k.target.missingTableReason },
      });
      expect(errorText(err, { stack: true })).not.toContain("nope_not_here");
      expect(errorText(err).toLowerCase()).not.toContain("select");
    });
  });
}
