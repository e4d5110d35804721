// Type tests: compiled by `npm run typecheck` (a wrong inference fails the build) and run by
// vitest so the runtime half of each statement is exercised too.
import { type Context, defineService, type ServiceBroker } from "flotilla";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

const typedMath = defineService({
  name: "typedMath",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      handler(ctx) {
        expectTypeOf(ctx.params).toEqualTypeOf<{ a: number; b: number }>();
        return ctx.params.a + ctx.params.b;
      },
    },
    user: {
      params: z.object({ id: z.coerce.number() }),
      async handler(ctx) {
        expectTypeOf(ctx.params.id).toEqualTypeOf<number>();
        return { id: ctx.params.id, name: "Ada" };
      },
    },
    now: { handler: () => new Date(0) },
    hidden: { visibility: "private", handler: () => 1 },
  },
  events: {
    "typedMath.done": { params: z.object({ total: z.number() }), handler: () => {} },
  },
});

const typedUsers = defineService({
  name: "typedUsers",
  version: 2,
  actions: {
    get: { params: z.object({ id: z.string() }), handler: (ctx) => ({ id: ctx.params.id }) },
  },
});

declare module "flotilla" {
  interface Services {
    typedMath: typeof typedMath;
    typedUsers: typeof typedUsers;
  }
  interface Events {
    "typed.shipped": { orderId: number };
  }
}

async function calls(broker: ServiceBroker, ctx: Context) {
  expectTypeOf(await broker.call("typedMath.add", { a: 1, b: 2 })).toEqualTypeOf<number>();
  expectTypeOf(await broker.call("typedMath.user", { id: "7" })).toEqualTypeOf<{
    id: number;
    name: string;
  }>();
  expectTypeOf(await broker.call("typedMath.now")).toEqualTypeOf<Date>();
  expectTypeOf(await broker.call("v2.typedUsers.get", { id: "u1" })).toEqualTypeOf<{
    id: string;
  }>();
  expectTypeOf(await ctx.call("typedMath.add", { a: 1, b: 2 })).toEqualTypeOf<number>();

  // @ts-expect-error an unknown action of a listed service
  await broker.call("typedMath.sub", { a: 1, b: 2 });
  // @ts-expect-error a private action is not callable from outside
  await broker.call("typedMath.hidden");
  // @ts-expect-error a wrong param type
  await broker.call("typedMath.add", { a: "1", b: 2 });
  // @ts-expect-error a missing param
  await ctx.call("typedMath.add", { a: 1 });
  // @ts-expect-error params are required when the schema has required fields
  await broker.call("typedMath.add");
  const sum = await broker.call("typedMath.add", { a: 1, b: 2 });
  // @ts-expect-error a wrong use of the result
  sum.toUpperCase();

  // Unlisted services still work, untyped (or typed by hand).
  expectTypeOf(await broker.call("other.thing", { anything: true })).toEqualTypeOf<unknown>();
  expectTypeOf(await broker.call<string>("other.thing")).toEqualTypeOf<string>();

  // Events: payloads of typed events are checked, others pass untyped.
  await broker.emit("typedMath.done", { total: 3 });
  await ctx.emit("typed.shipped", { orderId: 1 });
  await broker.broadcast("typed.shipped", { orderId: 1 });
  // @ts-expect-error a wrong payload for a typed event
  await broker.emit("typedMath.done", { total: "3" });
  // @ts-expect-error a wrong payload for an event typed through the Events interface
  await broker.emit("typed.shipped", { order: 1 });
  await broker.emit("anything.else", { free: "form" });
}

describe("typed calls", () => {
  it("infer params and results end to end (checked by tsc) and run", async () => {
    const broker = await startBroker([typedMath, typedUsers]);
    expectTypeOf(calls).parameter(0).toEqualTypeOf<ServiceBroker>();
    const sum: number = await broker.call("typedMath.add", { a: 2, b: 3 });
    const user = await broker.call("typedMath.user", { id: "4" });
    if (sum !== 5 || user.id !== 4) throw new Error("typed calls returned the wrong values");
  });
});
