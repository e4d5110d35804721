// Type tests of `returns` (an action's result schema) and `emits` (a service's emitted events):
// compiled by `npm run typecheck` (a wrong inference fails the build) and run by vitest.
import { type Context, defineService, type ServiceBroker } from "flotilla";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

const Invoice = z.object({ id: z.number(), total: z.number(), note: z.string().optional() });

const typedInvoices = defineService({
  name: "typedInvoices",
  emits: {
    "typedInvoices.issued": z.object({ id: z.number(), total: z.number() }),
  },
  actions: {
    get: {
      params: z.object({ id: z.number() }),
      returns: Invoice,
      handler(ctx) {
        expectTypeOf(ctx.params).toEqualTypeOf<{ id: number }>();
        return { id: ctx.params.id, total: 10 };
      },
    },
    issue: {
      params: z.object({ total: z.number() }),
      returns: Invoice,
      async handler(ctx) {
        await ctx.emit("typedInvoices.issued", { id: 1, total: ctx.params.total });
        return { id: 1, total: ctx.params.total, note: "issued" };
      },
    },
    count: { returns: z.number().int(), handler: () => 3 },
    // Without `returns`, the result is still what the handler returns.
    plain: { handler: () => ({ ok: true as const }) },
  },
});

// A mistake makes the whole definition fail to compile, so each one is a service of its own.
defineService({
  name: "typedInvoicesDrifted",
  actions: {
    // @ts-expect-error the handler's result does not match its `returns` schema
    get: { returns: Invoice, handler: () => ({ id: "1", total: 10 }) },
  },
});

defineService({
  name: "typedInvoicesAsync",
  actions: {
    // @ts-expect-error an async handler is checked too: `total` is missing
    get: { returns: Invoice, handler: async () => ({ id: 1 }) },
  },
});

declare module "flotilla" {
  interface Services {
    typedInvoices: typeof typedInvoices;
  }
}

async function calls(broker: ServiceBroker, ctx: Context) {
  expectTypeOf(await broker.call("typedInvoices.get", { id: 1 })).toEqualTypeOf<{
    id: number;
    total: number;
    note?: string | undefined;
  }>();
  expectTypeOf(await ctx.call("typedInvoices.count")).toEqualTypeOf<number>();
  expectTypeOf(await broker.call("typedInvoices.plain")).toEqualTypeOf<{ ok: true }>();

  // Emitted events declared with `emits` are typed like handled ones.
  await broker.emit("typedInvoices.issued", { id: 2, total: 5 });
  // @ts-expect-error a payload that does not match the declared schema
  await ctx.emit("typedInvoices.issued", { id: "2", total: 5 });
  // @ts-expect-error a declared payload with a field missing
  await broker.broadcast("typedInvoices.issued", { id: 2 });
}

describe("returns and emits types", () => {
  it("type results from `returns` and payloads from `emits` (checked by tsc), and run", async () => {
    const broker = await startBroker([typedInvoices]);
    expectTypeOf(calls).parameter(0).toEqualTypeOf<ServiceBroker>();
    const invoice = await broker.call("typedInvoices.issue", { total: 7 });
    expect(invoice).toEqual({ id: 1, total: 7, note: "issued" });
  });
});
