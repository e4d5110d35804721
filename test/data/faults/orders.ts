// The service every fault test of the data layer runs: `orders`, whose transactions insert a row
// and emit `orders.placed` through the outbox. Loaded by the child processes (instance.ts) and by
// tests that run it in their own process.
import { sql } from "kysely";
// Each from its own module, not the index: a child process loads less.
import { defineDatabase } from "../../../src/data/define.js";
import type { OutboxOptions } from "../../../src/data/types.js";
import { defineService } from "../../../src/service/define.js";

/** The tables of `orders`. */
export interface OrdersDB {
  /** One row per committed transaction: its sequence number, the node and the key it used. */
  orders: { seq: number; node: string; k: string };
  /** One row per run of migration 002 (it must run once, however many instances start). */
  migration_runs: { node: string; at: number };
  /** The sequence of `orders.next`: taken under the row's lock, so in commit order. */
  counter: { id: number; n: number };
}

/** What an `orders.placed` event carries. */
export interface Placed {
  seq: number;
}

/** Where the service's database is and how its outbox relays. */
export interface OrdersSetup {
  /** `postgres://…` or `sqlite:/abs/path`. */
  url: string;
  /** PostgreSQL: the schema of this test. */
  schema?: string;
  outbox?: OutboxOptions;
  /** Written by migration 002 into `migration_runs`. */
  node: string;
}

/**
 * `orders` on `setup.url`. Migrations: 001 creates the tables, 002 records that it ran (one row
 * in `migration_runs`). Actions: `place({ seq, key })` commits the row `seq` and its event;
 * `next({ keys })` takes the next number `n` of `counter` and does the same with it, under the
 * key `keys[n % keys.length]`.
 */
export function ordersService(setup: OrdersSetup) {
  return defineService({
    name: "orders",
    database: defineDatabase<OrdersDB>({
      url: setup.url,
      schema: setup.schema,
      // Several instances and several test files share one PostgreSQL server.
      poolSize: 3,
      outbox: setup.outbox,
      migrations: {
        "001_tables": {
          async up(db) {
            await sql`create table orders (seq integer primary key, node text not null, k text not null)`.execute(
              db,
            );
            await sql`create table migration_runs (node text not null, at bigint not null)`.execute(
              db,
            );
            await sql`create table counter (id integer primary key, n integer not null)`.execute(
              db,
            );
            await sql`insert into counter (id, n) values (1, 0)`.execute(db);
          },
        },
        "002_record_run": {
          async up(db) {
            await sql`insert into migration_runs (node, at) values (${setup.node}, ${Date.now()})`.execute(
              db,
            );
          },
        },
      },
    }),
    actions: {
      place: {
        handler(ctx) {
          const { seq, key } = ctx.params as { seq: number; key?: string };
          const k = key ?? "orders";
          return ctx.transaction(async (tx) => {
            await tx.db.insertInto("orders").values({ seq, node: setup.node, k }).execute();
            await tx.emit("orders.placed", { seq } satisfies Placed, { key: k });
            return seq;
          });
        },
      },
      next: {
        handler(ctx) {
          const { keys } = ctx.params as { keys?: string[] };
          return ctx.transaction(async (tx) => {
            const { n } = await tx.db
              .updateTable("counter")
              .set((eb) => ({ n: eb("n", "+", 1) }))
              .where("id", "=", 1)
              .returning("n")
              .executeTakeFirstOrThrow();
            const k = keys === undefined || keys.length === 0 ? "orders" : keys[n % keys.length]!;
            await tx.db.insertInto("orders").values({ seq: n, node: setup.node, k }).execute();
            await tx.emit("orders.placed", { seq: n } satisfies Placed, { key: k });
            return n;
          });
        },
      },
    },
  });
}
