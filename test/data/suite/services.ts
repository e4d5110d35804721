import {
  type Context,
  defineService,
  type Meta,
  type ServiceBroker,
  type TransactionScope,
} from "flotilla";
import { type Kysely, sql } from "kysely";
import { z } from "zod";
import { type DataKit, type ShopDB, shopDatabase } from "../fixtures.js";

/** One delivery a durable handler saw. */
export interface Delivery {
  params: unknown;
  messageID: string | undefined;
  attempt: number | undefined;
  requestID: string;
  caller: string | undefined;
  meta: Meta;
  headers: Record<string, string> | undefined;
}

/** Retries of durable handlers in these tests: a few ms, not the default 100 ms doubling. */
export const FAST = { delay: 2, maxDelay: 10, factor: 2 };

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Writes one row of `orders` (a quantity of 1 unless given). */
export async function insertOrder(
  db: Kysely<ShopDB>,
  order: { id: string; item: string; qty?: number },
): Promise<void> {
  await db
    .insertInto("orders")
    .values({ qty: 1, ...order })
    .execute();
}

/** Writes one row of `ledger`. */
export async function insertLedger(
  db: Kysely<ShopDB>,
  messageID: string,
  amount: number,
): Promise<void> {
  await db.insertInto("ledger").values({ message_id: messageID, amount }).execute();
}

/** The IDs of the orders, in ID order. */
export async function orderIDs(db: Kysely<ShopDB>): Promise<string[]> {
  return (await db.selectFrom("orders").select("id").orderBy("id").execute()).map((r) => r.id);
}

/** Writes the order `id` and emits `order.placed` with it, in the transaction `tx`. */
async function placeIn(tx: TransactionScope<ShopDB>, id: string): Promise<void> {
  await insertOrder(tx.db, { id, item: "book" });
  await tx.emit("order.placed", { id });
}

/** A service with one durable handler (one event at a time) that records what it sees. */
export function recorder(name: string, event: string, log: Delivery[]) {
  return defineService({
    name,
    events: {
      [event]: {
        durable: true,
        concurrency: 1,
        backoff: FAST,
        handler(ctx: Context<unknown>) {
          log.push({
            params: ctx.params,
            messageID: ctx.messageID,
            attempt: ctx.attempt,
            requestID: ctx.requestID,
            caller: ctx.caller,
            meta: { ...ctx.meta },
            headers: ctx.headers,
          });
        },
      },
    },
  });
}

/**
 * The shop service of most tests: `place` writes an order and emits `order.placed` in one
 * transaction (then throws, when asked to), `list` reads the order IDs.
 */
export function shop(name: string, options: Parameters<typeof shopDatabase>[0] = {}) {
  return defineService({
    name,
    database: shopDatabase(options),
    actions: {
      place: {
        params: z.object({
          id: z.string(),
          item: z.string().default("book"),
          messageID: z.string().optional(),
          key: z.string().optional(),
          fail: z.string().optional(),
        }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            const { id, item, messageID, key, fail } = ctx.params;
            await insertOrder(tx.db, { id, item });
            await tx.emit(
              "order.placed",
              { id },
              { messageID, key, meta: { step: "placed" }, headers: { "x-step": "placed" } },
            );
            if (fail !== undefined) throw new Error(fail);
            return { id };
          }),
      },
      list: { handler: (ctx) => orderIDs(ctx.db) },
      /** The message IDs waiting in the outbox table. */
      outbox: {
        handler: async (ctx) =>
          (
            await sql<{
              message_id: string;
            }>`select message_id from flotilla_outbox order by id`.execute(ctx.db)
          ).rows.map((r) => r.message_id),
      },
      /** Writes and emits, then calls an action that throws. */
      checkout: {
        params: z.object({ id: z.string(), payments: z.string() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await placeIn(tx, ctx.params.id);
            await ctx.call(`${ctx.params.payments}.charge`, {});
          }),
      },
      /** Writes and emits, then inserts the order `taken`. */
      twice: {
        params: z.object({ id: z.string() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await placeIn(tx, ctx.params.id);
            await insertOrder(tx.db, { id: "taken", item: "book" });
          }),
      },
      /** A transaction in a transaction, then a write through ctx.db, then a throw if asked. */
      nested: {
        params: z.object({ fail: z.boolean() }),
        handler: (ctx) =>
          ctx.transaction(async (outer) => {
            await insertOrder(outer.db, { id: "outer", item: "a" });
            await ctx.transaction(async (inner) => {
              await insertOrder(inner.db, { id: "inner", item: "b" });
              await inner.emit("order.placed", { id: "inner" });
            });
            // Inside the transaction, ctx.db is the transaction too.
            await insertOrder(ctx.db, { id: "via-ctx-db", item: "c" });
            if (ctx.params.fail) throw new Error("the outer transaction fails");
          }),
      },
      /** Writes and emits an event carrying `blob`. */
      big: {
        params: z.object({ id: z.string(), blob: z.string() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await insertOrder(tx.db, { id: ctx.params.id, item: "big" });
            await tx.emit("order.placed", { blob: ctx.params.blob });
          }),
      },
    },
  });
}

/** The billing service: books each payment in the ledger, through the inbox. */
export function billing(name: string, onRun: (ctx: Context<unknown>) => void) {
  return defineService({
    name,
    database: shopDatabase(),
    events: {
      "payment.received": {
        durable: true,
        inbox: true,
        backoff: FAST,
        params: z.object({ amount: z.number() }),
        async handler(ctx) {
          await insertLedger(ctx.db, ctx.messageID ?? "", ctx.params.amount);
          // Its events join the inbox transaction too.
          await ctx.transaction((tx) => tx.emit("payment.booked", { messageID: ctx.messageID }));
          onRun(ctx);
        },
      },
    },
    actions: {
      ledger: {
        handler: (ctx) => ctx.db.selectFrom("ledger").selectAll().orderBy("message_id").execute(),
      },
    },
  });
}

/** A shop with an action that inserts the given row, and one that runs a broken query. */
export function store(name: string) {
  return defineService({
    name,
    database: shopDatabase(),
    actions: {
      add: {
        params: z.object({ id: z.string(), item: z.string() }),
        handler: (ctx) => insertOrder(ctx.db, ctx.params),
      },
      broken: {
        handler: async (ctx) => {
          await sql`select * from nope_not_here`.execute(ctx.db);
        },
      },
    },
  });
}

/** The deliveries of `event` this broker's handlers finished, with what they threw. */
export function handled(
  broker: ServiceBroker,
  event: string,
): { messageID?: string; error: unknown }[] {
  const seen: { messageID?: string; error: unknown }[] = [];
  broker.events.observe((ctx, _listener, error) => {
    if (ctx.name === event) seen.push({ messageID: ctx.messageID, error });
  });
  return seen;
}

/**
 * Starts a service on its node that records the deliveries of `event` (`order.placed` to the
 * `shipping` service unless told), and returns what it records.
 */
export async function recording(
  k: DataKit,
  event = "order.placed",
  base = "shipping",
): Promise<Delivery[]> {
  const log: Delivery[] = [];
  await k.start(recorder(k.name(base), event, log));
  return log;
}

/**
 * Starts `services` on one node, and a node without services that has seen `name` (its calls
 * go across the bus).
 */
export async function withCaller(
  k: DataKit,
  services: Parameters<DataKit["start"]>[0],
  name: string,
): Promise<{ node: ServiceBroker; caller: ServiceBroker }> {
  const node = await k.start(services);
  const caller = await k.start([]);
  await caller.waitForServices(name);
  return { node, caller };
}

/**
 * Starts the shipping service that records `order.placed` (see {@link recording}), then a
 * {@link shop} (named `shop_…`) with `options` on a node of its own with `brokerOptions`.
 */
export async function shopAndShipping(
  k: DataKit,
  options: Parameters<typeof shopDatabase>[0] = {},
  brokerOptions?: Parameters<DataKit["start"]>[1],
): Promise<{ name: string; log: Delivery[]; node: ServiceBroker }> {
  const name = k.name("shop");
  const log = await recording(k);
  const node = await k.start(shop(name, options), brokerOptions);
  return { name, log, node };
}

/** A service whose timer writes a row of `ticks` every 20 ms; `ticks` counts them. */
export function clock(name: string) {
  return defineService({
    name,
    database: shopDatabase(),
    timers: {
      tick: {
        every: 20,
        async handler(ctx) {
          await ctx.db.insertInto("ticks").values({ timer: "tick" }).execute();
        },
      },
    },
    actions: {
      ticks: {
        handler: async (ctx) => (await ctx.db.selectFrom("ticks").selectAll().execute()).length,
      },
    },
  });
}

/** A service whose `step` writes the order `s-<n>` and emits `seq.step`, all under one key. */
export function sequence(name: string) {
  return defineService({
    name,
    database: shopDatabase(),
    actions: {
      step: {
        params: z.object({ n: z.number() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await insertOrder(tx.db, { id: `s-${ctx.params.n}`, item: "step", qty: ctx.params.n });
            await tx.emit("seq.step", { n: ctx.params.n }, { key: "one-key" });
          }),
      },
    },
  });
}
