// Type tests of the data layer: compiled by `npm run typecheck` (a wrong inference fails the
// build) and run by vitest, on an in-memory SQLite database, so the runtime half runs too.
import {
  type DataContext,
  defineDatabase,
  defineService,
  type ServiceBroker,
  type TransactionScope,
} from "flotilla";
import type { Generated, Kysely, Transaction } from "kysely";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

interface TypedShopDB {
  shop_orders: { id: Generated<number>; item: string; qty: number };
}

/** A row of `shop_orders` as read. */
type OrderRow = { id: number; item: string; qty: number };

const database = defineDatabase<TypedShopDB>({
  url: "sqlite::memory:",
  migrations: {
    "001_orders": {
      async up(db) {
        await db.schema
          .createTable("shop_orders")
          .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
          .addColumn("item", "text", (c) => c.notNull())
          .addColumn("qty", "integer", (c) => c.notNull())
          .execute();
      },
    },
  },
});

/** Queries that must not compile against `TypedShopDB` (built, never run). */
function wrongQueries(db: Kysely<TypedShopDB>) {
  // @ts-expect-error a table the database does not have
  db.selectFrom("orders");
  // @ts-expect-error a column the table does not have
  db.selectFrom("shop_orders").select("price");
  // @ts-expect-error a where on a column the table does not have
  db.selectFrom("shop_orders").selectAll().where("price", "=", 1);
  // @ts-expect-error a value of the wrong type
  db.selectFrom("shop_orders").selectAll().where("qty", "=", "one");
  // @ts-expect-error an insert into a table the database does not have
  db.insertInto("orders");
  // @ts-expect-error an insert with a column the table does not have
  db.insertInto("shop_orders").values({ item: "a", qty: 1, price: 3 });
  // @ts-expect-error an insert without a required column
  db.insertInto("shop_orders").values({ item: "a" });
  // @ts-expect-error an insert with a value of the wrong type
  db.insertInto("shop_orders").values({ item: 1, qty: 1 });
}

const typedShop = defineService({
  name: "typedShop",
  database,
  actions: {
    create: {
      params: z.object({ item: z.string(), qty: z.number() }),
      handler: (ctx) => {
        expectTypeOf(ctx.db).toEqualTypeOf<Kysely<TypedShopDB>>();
        expectTypeOf(ctx.params).toEqualTypeOf<{ item: string; qty: number }>();
        return ctx.transaction(async (tx) => {
          expectTypeOf(tx).toEqualTypeOf<TransactionScope<TypedShopDB>>();
          expectTypeOf(tx.db).toEqualTypeOf<Transaction<TypedShopDB>>();
          const row = await tx.db
            .insertInto("shop_orders")
            .values(ctx.params)
            .returningAll()
            .executeTakeFirstOrThrow();
          await tx.emit("typedShop.created", { id: row.id });
          await tx.emit("typedShop.shipped", { orderId: row.id }, { key: String(row.id) });
          await tx.emit("untyped.anything", { free: "form" });
          return row;
        });
      },
    },
    get: {
      params: z.object({ id: z.number() }),
      handler: (ctx) =>
        ctx.db
          .selectFrom("shop_orders")
          .select(["id", "item"])
          .where("id", "=", ctx.params.id)
          .executeTakeFirst(),
    },
    count: {
      handler: async (ctx) => {
        const counted = ctx.transaction(
          async (tx) => (await tx.db.selectFrom("shop_orders").selectAll().execute()).length,
        );
        expectTypeOf(counted).toEqualTypeOf<Promise<number>>();
        return counted;
      },
    },
  },
  events: {
    "typedShop.created": {
      durable: true,
      inbox: true,
      params: z.object({ id: z.number() }),
      handler(ctx) {
        expectTypeOf(ctx.db).toEqualTypeOf<Kysely<TypedShopDB>>();
        expectTypeOf(ctx.params).toEqualTypeOf<{ id: number }>();
      },
    },
  },
  timers: {
    sweep: {
      every: "1h",
      handler(ctx) {
        expectTypeOf(ctx.db).toEqualTypeOf<Kysely<TypedShopDB>>();
        expectTypeOf(ctx.transaction).toEqualTypeOf<DataContext<TypedShopDB>["transaction"]>();
      },
    },
  },
  async started(service) {
    expectTypeOf(service.db).toEqualTypeOf<Kysely<TypedShopDB>>();
    await service.transaction(async (tx) => {
      expectTypeOf(tx.db).toEqualTypeOf<Transaction<TypedShopDB>>();
    });
  },
  stopped(service) {
    expectTypeOf(service.db).toEqualTypeOf<Kysely<TypedShopDB>>();
  },
});

/** `tx.emit` payloads of typed events are checked as `broker.emit`'s are (never run). */
function wrongEmits(tx: TransactionScope<TypedShopDB>) {
  // @ts-expect-error a wrong payload for an event a listed service declares
  tx.emit("typedShop.created", { id: "1" });
  // @ts-expect-error a missing payload for it
  tx.emit("typedShop.created");
  // @ts-expect-error a wrong payload for an event typed through the Events interface
  tx.emit("typedShop.shipped", { order: 1 });
  // @ts-expect-error an option outbox events do not have
  tx.emit("typedShop.created", { id: 1 }, { groups: ["a"] });
}

/** A service without a database: its handlers have no `db` and no `transaction`. */
const typedPlain = defineService({
  name: "typedPlain",
  actions: {
    hello: {
      handler(ctx) {
        expectTypeOf(ctx).not.toHaveProperty("db");
        expectTypeOf(ctx).not.toHaveProperty("transaction");
        const never = () => {
          // @ts-expect-error no database declared: no ctx.db
          return ctx.db;
        };
        expectTypeOf(never).toBeFunction();
        return "hello";
      },
    },
  },
  events: {
    "typedPlain.ping": {
      handler(ctx) {
        expectTypeOf(ctx).not.toHaveProperty("db");
      },
    },
  },
  timers: {
    tick: {
      every: "1h",
      handler(ctx) {
        expectTypeOf(ctx).not.toHaveProperty("db");
      },
    },
  },
  started(service) {
    expectTypeOf(service).not.toHaveProperty("db");
  },
});

declare module "flotilla" {
  interface Services {
    typedShop: typeof typedShop;
    typedPlain: typeof typedPlain;
  }
  interface Events {
    "typedShop.shipped": { orderId: number };
  }
}

/** Calls to services with and without a database infer their results (never run). */
async function calls(broker: ServiceBroker) {
  expectTypeOf(
    await broker.call("typedShop.create", { item: "a", qty: 1 }),
  ).toEqualTypeOf<OrderRow>();
  expectTypeOf(await broker.call("typedShop.get", { id: 1 })).toEqualTypeOf<
    { id: number; item: string } | undefined
  >();
  expectTypeOf(await broker.call("typedShop.count")).toEqualTypeOf<number>();
  expectTypeOf(await broker.call("typedPlain.hello")).toEqualTypeOf<string>();
  // @ts-expect-error a wrong param type for an action of a service with a database
  await broker.call("typedShop.create", { item: 1, qty: 1 });
}

describe("typed data", () => {
  it("types ctx.db, tx.db and tx.emit by the declared database (checked by tsc) and runs", async () => {
    expectTypeOf(wrongQueries).parameter(0).toEqualTypeOf<Kysely<TypedShopDB>>();
    expectTypeOf(wrongEmits).parameter(0).toEqualTypeOf<TransactionScope<TypedShopDB>>();
    expectTypeOf(calls).parameter(0).toEqualTypeOf<ServiceBroker>();
    const broker = await startBroker([typedShop, typedPlain]);
    const row: OrderRow = await broker.call("typedShop.create", { item: "pen", qty: 2 });
    expect(row).toEqual({ id: 1, item: "pen", qty: 2 });
    await expect(broker.call("typedShop.get", { id: row.id })).resolves.toEqual({
      id: 1,
      item: "pen",
    });
    await expect(broker.call("typedShop.count")).resolves.toBe(1);
    await expect(broker.call("typedPlain.hello")).resolves.toBe("hello");
  });
});
