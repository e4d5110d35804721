// The orders service: checkout (the saga in saga.ts), a customer's order history, and the
// recovery timer (recovery.ts) that finishes what a crash left half done. It owns the orders
// table; stock and coupons belong to products and coupons, which it only calls. Confirmed and
// rejected orders are announced through the outbox (`orders.created`, `orders.status`), so an
// order is never confirmed without its events, nor its events sent for an order rolled back.
import { defineDatabase, defineService, FlotillaError } from "flotilla";
import { z } from "zod";
import { callerOf } from "../../shared/auth.js";
import { migrations, type OrdersDB } from "./migrations.js";
import { type Order, orderOf } from "./order.js";
import { recover } from "./recovery.js";
import { checkout, type SagaSettings } from "./saga.js";

/** The saga's pace unless the service's `settings` say otherwise. */
const DEFAULTS: SagaSettings = { stepTimeout: 5_000, staleAfter: 60_000 };

/** The settings of the running service: the defaults, overridden by its `settings`. */
function settingsOf(ctx: { service: { settings: unknown } | undefined }): SagaSettings {
  return { ...DEFAULTS, ...(ctx.service?.settings as Partial<SagaSettings> | undefined) };
}

/** The most orders `orders.list` returns: the newest. */
const HISTORY = 100;

const notFound = (id: string) =>
  new FlotillaError(`No order ${id}.`, "ORDER_NOT_FOUND", 404, { data: { id } });

/**
 * Orders: `checkout` runs the saga and answers with the order, confirmed or rejected with its
 * reason; `list` and `get` show the caller's orders (an admin may get any).
 *
 * @example
 * ```ts
 * const order = await broker.call("orders.checkout", { items: [{ productId, qty: 2 }], coupon: "WELCOME10" }, { meta: { user } });
 * order.status; // "confirmed", or "rejected" with order.reason ("Out of stock: Enamel Mug")
 * ```
 */
export const orders = defineService({
  name: "orders",
  settings: DEFAULTS,
  database: defineDatabase<OrdersDB>({ migrations }),
  actions: {
    checkout: {
      params: z.object({
        items: z
          .array(z.object({ productId: z.string().min(1), qty: z.number().int().min(1).max(99) }))
          .min(1)
          .max(50),
        // The storefront's empty coupon field counts as none.
        coupon: z.string().trim().max(64).optional(),
      }),
      rest: "POST /orders",
      visibility: "published",
      summary: "Places an order: reserves stock, applies the coupon, confirms or rejects",
      async handler(ctx): Promise<Order> {
        const user = callerOf(ctx);
        return checkout(ctx, settingsOf(ctx), {
          user,
          items: ctx.params.items,
          coupon: ctx.params.coupon || undefined,
        });
      },
    },

    list: {
      rest: "GET /orders",
      visibility: "published",
      summary: "The caller's orders, newest first",
      async handler(ctx): Promise<Order[]> {
        const { id } = callerOf(ctx);
        const rows = await ctx.db
          .selectFrom("orders")
          .selectAll()
          .where("user_id", "=", id)
          .orderBy("created_at", "desc")
          .limit(HISTORY)
          .execute();
        return rows.map(orderOf);
      },
    },

    get: {
      params: z.object({ id: z.string().min(1) }),
      rest: "GET /orders/:id",
      visibility: "published",
      summary: "One of the caller's orders (an admin: any order)",
      async handler(ctx): Promise<Order> {
        const caller = callerOf(ctx);
        const row = await ctx.db
          .selectFrom("orders")
          .selectAll()
          .where("id", "=", ctx.params.id)
          .executeTakeFirst();
        // Someone else's order is as absent as one that does not exist.
        if (row === undefined || (row.user_id !== caller.id && caller.role !== "admin")) {
          throw notFound(ctx.params.id);
        }
        return orderOf(row);
      },
    },
  },

  timers: {
    // Finishes orders a crash left pending and retries compensations that failed. One instance
    // runs it (any would do: its updates are conditional and its calls idempotent).
    recover: {
      every: "2s",
      singleton: true,
      handler: (ctx) => recover(ctx, settingsOf(ctx)),
    },
  },
});

declare module "flotilla" {
  interface Services {
    orders: typeof orders;
  }
}

export default orders;
