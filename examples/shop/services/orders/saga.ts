// The checkout saga. No transaction spans services, so an order is a sequence of local steps in
// other services, each undone by a compensation when a later one fails:
//
//   order row `pending` (committed first, so a crash leaves a trace the recovery timer finds)
//   → products.reserve   (undo: products.release)
//   → coupons.hold       (undo: coupons.release; only with a coupon)
//   → products.confirm
//   → coupons.redeem
//   → one transaction: the row `confirmed`, `orders.created` and `orders.status` in the outbox
//
// A failing step ends the order `rejected` with a reason people can read, then runs the
// compensations of every step that was tried (a step that timed out may still have happened:
// both compensations are idempotent, so undoing a step that did nothing is harmless). Whoever
// moves the order out of `pending` first owns its outcome: the saga, or the recovery timer
// (`recover`), which finishes orders a crash left pending. Each move is a conditional update
// (`where status = 'pending'`), so the two never both decide.
import { randomUUID } from "node:crypto";
import { type Context, type DataContext, FlotillaError } from "flotilla";
import type { OrdersDB } from "./migrations.js";
import { createdEventOf, type Order, type OrderItem, orderOf, statusEventOf } from "./order.js";
import { LOST_HOLD, namedLines, reasonOf, type Step } from "./reasons.js";

/** A context of the orders service: an action's or the timer's, with the service's database. */
export type OrdersContext = Context<unknown> & DataContext<OrdersDB>;

/** How the saga and the recovery timer pace themselves. */
export interface SagaSettings {
  /** Budget of each call to another service, ms. */
  stepTimeout: number;
  /**
   * A pending order untouched this long (ms) was left by a crash, and the recovery timer ends
   * it. Well above the saga's own worst case (a few steps of `stepTimeout` each).
   */
  staleAfter: number;
}

/** The reason of orders the recovery timer finished. */
export const INTERRUPTED = "Checkout was interrupted, try again";

/** What a buyer asks for: lines (a product ID and a quantity), and maybe a coupon code. */
export interface CheckoutRequest {
  user: { id: string; email: string };
  items: { productId: string; qty: number }[];
  coupon?: string | undefined;
}

/** Which compensations an order is owed. */
interface Owed {
  products: boolean;
  coupon: boolean;
}

/**
 * Places an order: runs the saga and returns the order, `confirmed` or `rejected` with its
 * reason. Throws only when the orders database itself fails (the recovery timer then finishes
 * the order).
 */
export async function checkout(
  ctx: OrdersContext,
  settings: SagaSettings,
  request: CheckoutRequest,
): Promise<Order> {
  const id = randomUUID();
  const timeout = settings.stepTimeout;
  const wanted = merged(request.items);
  let items: OrderItem[] = wanted.map((i) => ({ ...i, name: "", price: 0 }));
  const now = new Date().toISOString();
  // Committed on its own before any other service hears of the order.
  await ctx.db
    .insertInto("orders")
    .values({
      id,
      user_id: request.user.id,
      email: request.user.email,
      status: "pending",
      reason: null,
      items: JSON.stringify(items),
      subtotal: 0,
      discount: 0,
      total: 0,
      coupon: request.coupon ?? null,
      compensated: 0,
      created_at: now,
      updated_at: now,
    })
    .execute();

  const owed: Owed = { products: false, coupon: false };
  let step: Step = "reserve";
  try {
    owed.products = true;
    const reserved = (await ctx.call(
      "products.reserve",
      { orderId: id, items: wanted },
      { timeout },
    )) as { items: OrderItem[] };
    items = reserved.items.map(({ productId, name, qty, price }) => ({
      productId,
      name,
      qty,
      price,
    }));
    const subtotal = items.reduce((sum, i) => sum + i.qty * i.price, 0);
    // The lines and prices as reserved, so a rejection from here on still shows them.
    await update(ctx, id, { items: JSON.stringify(items), subtotal, total: subtotal });
    let coupon: string | null = null;
    if (request.coupon !== undefined) {
      step = "hold";
      owed.coupon = true;
      const held = (await ctx.call(
        "coupons.hold",
        { code: request.coupon, userId: request.user.id, orderId: id, subtotal },
        { timeout },
      )) as { code: string; discount: number };
      const discount = Math.min(Math.max(0, held.discount), subtotal);
      coupon = held.code;
      await update(ctx, id, { coupon, discount, total: subtotal - discount });
    }
    step = "confirm";
    await ctx.call("products.confirm", { orderId: id }, { timeout });
    if (coupon !== null) {
      step = "redeem";
      const { redeemed } = (await ctx.call("coupons.redeem", { orderId: id }, { timeout })) as {
        redeemed: boolean;
      };
      // No held use to redeem: it was released meanwhile (the recovery timer, after a stall).
      if (!redeemed) throw new FlotillaError("The coupon's hold is gone.", LOST_HOLD, 409);
    }
    step = "commit";
    const confirmed = await ctx.transaction(async (tx) => {
      const updated = await tx.db
        .updateTable("orders")
        .set({ status: "confirmed", updated_at: new Date().toISOString() })
        .where("id", "=", id)
        .where("status", "=", "pending")
        .returningAll()
        .executeTakeFirst();
      if (updated === undefined) return false;
      // Keyed by the order: its two events go out in this order, other orders' in parallel.
      await tx.emit("orders.created", createdEventOf(updated), { key: id });
      await tx.emit("orders.status", statusEventOf(updated), { key: id });
      return true;
    });
    if (!confirmed) {
      // The recovery timer took the order while this run was slow: it is rejected, and what
      // this run did since is undone too.
      await compensate(ctx, settings, id, owed);
    }
    return await load(ctx, id);
  } catch (err) {
    if ((err as { code?: unknown }).code === "OUT_OF_STOCK") {
      // Nothing was reserved: the lines are named from the catalog for the buyer's history
      // and the reason ("Out of stock: Enamel Mug").
      items = await namedLines(ctx, timeout, items);
      const subtotal = items.reduce((sum, i) => sum + i.qty * i.price, 0);
      await update(ctx, id, { items: JSON.stringify(items), subtotal, total: subtotal });
    }
    let reason = reasonOf(err, step, items, request.coupon);
    if (reason === undefined) {
      ctx.logger.error({ err, orderId: id, step }, "checkout failed");
      reason = "Checkout failed, try again";
    }
    return reject(ctx, settings, id, reason, owed);
  }
}

/**
 * Ends an order `rejected` (if it is still pending) with `reason`, emitting `orders.status`,
 * then runs the compensations it is owed. Compensations that fail (their service is down) are
 * left to the recovery timer, which retries them.
 */
export async function reject(
  ctx: OrdersContext,
  settings: SagaSettings,
  id: string,
  reason: string,
  owed: Owed,
): Promise<Order> {
  await ctx.transaction(async (tx) => {
    const updated = await tx.db
      .updateTable("orders")
      .set({ status: "rejected", reason, compensated: 0, updated_at: new Date().toISOString() })
      .where("id", "=", id)
      .where("status", "=", "pending")
      .returningAll()
      .executeTakeFirst();
    if (updated !== undefined) await tx.emit("orders.status", statusEventOf(updated), { key: id });
  });
  await compensate(ctx, settings, id, owed);
  return load(ctx, id);
}

/**
 * Runs an order's compensations, newest step first: `coupons.release`, then `products.release`.
 * Both are idempotent, so running them again (the timer after the saga) is harmless. Marks the
 * order compensated when every one went through; returns whether they did.
 *
 * While products is down its release fails too; the order stays owed and the timer retries,
 * and should products come back with the reservation lost to us, its own expiry timer
 * (`SHOP_RESERVATION_TTL`) frees the stock. A reservation that arrives after its release (a
 * reserve that timed out here but ran late there) is freed by that expiry timer as well.
 */
export async function compensate(
  ctx: OrdersContext,
  settings: SagaSettings,
  id: string,
  owed: Owed,
): Promise<boolean> {
  const timeout = settings.stepTimeout;
  let ok = true;
  const undo = async (action: "coupons.release" | "products.release") => {
    try {
      await ctx.call(action, { orderId: id }, { timeout });
    } catch (err) {
      ok = false;
      ctx.logger.warn({ err, orderId: id }, `${action} failed; the recovery timer retries it`);
    }
  };
  if (owed.coupon) await undo("coupons.release");
  if (owed.products) await undo("products.release");
  if (ok) {
    await ctx.db
      .updateTable("orders")
      .set({ compensated: 1 })
      .where("id", "=", id)
      .where("status", "=", "rejected")
      .execute();
  }
  return ok;
}

/** Changes a pending order's lines or sums as the saga learns them (a finished one stays). */
async function update(
  ctx: OrdersContext,
  id: string,
  changes: {
    items?: string;
    subtotal?: number;
    discount?: number;
    total?: number;
    coupon?: string;
  },
): Promise<void> {
  await ctx.db
    .updateTable("orders")
    .set({ ...changes, updated_at: new Date().toISOString() })
    .where("id", "=", id)
    .where("status", "=", "pending")
    .execute();
}

/** An order by ID (it exists: the saga wrote it). */
async function load(ctx: OrdersContext, id: string): Promise<Order> {
  const row = await ctx.db
    .selectFrom("orders")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
  return orderOf(row);
}

/** The lines with one line per product: `[{ A, 1 }, { A, 2 }]` asks for 3 of A. */
function merged(items: CheckoutRequest["items"]): CheckoutRequest["items"] {
  const qty = new Map<string, number>();
  for (const { productId, qty: n } of items) qty.set(productId, (qty.get(productId) ?? 0) + n);
  return [...qty].map(([productId, n]) => ({ productId, qty: n }));
}
