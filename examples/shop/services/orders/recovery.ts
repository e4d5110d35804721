// The saga's safety net, run by the orders service's timer. A process that dies in the middle of
// a checkout leaves its order `pending`, with stock held and maybe a coupon held; a saga whose
// compensations failed (the other service was down) leaves a rejected order that still owes
// them. Each run finishes both kinds, a batch at a time.
import { compensate, INTERRUPTED, type OrdersContext, reject, type SagaSettings } from "./saga.js";

/** Orders finished per run and per kind; the rest wait for the next run. */
const BATCH = 20;

/**
 * Finishes orders left `pending` longer than `settings.staleAfter` (rejected with
 * {@link INTERRUPTED}, `orders.status` emitted, compensated), and retries the compensations of
 * rejected orders that still owe them. Safe to run on several instances at once: rejecting is
 * a conditional update, and compensations are idempotent.
 */
export async function recover(ctx: OrdersContext, settings: SagaSettings): Promise<void> {
  const now = Date.now();
  const stale = await ctx.db
    .selectFrom("orders")
    .select(["id", "coupon"])
    .where("status", "=", "pending")
    .where("updated_at", "<", new Date(now - settings.staleAfter).toISOString())
    .orderBy("updated_at")
    .limit(BATCH)
    .execute();
  // Which steps ran is not known: every compensation the order could owe runs (a coupon one
  // only when a coupon was asked for); undoing a step that never happened does nothing.
  await Promise.all(
    stale.map((order) =>
      reject(ctx, settings, order.id, INTERRUPTED, {
        products: true,
        coupon: order.coupon !== null,
      }),
    ),
  );
  if (stale.length > 0) ctx.logger.info({ orders: stale.length }, "finished interrupted orders");

  // Rejected orders still owing compensations: left alone for a while first, as the saga that
  // rejected them may still be compensating.
  const owing = await ctx.db
    .selectFrom("orders")
    .select(["id", "coupon"])
    .where("status", "=", "rejected")
    .where("compensated", "=", 0)
    .where("updated_at", "<", new Date(now - 2 * settings.stepTimeout).toISOString())
    .orderBy("updated_at")
    .limit(BATCH)
    .execute();
  await Promise.all(
    owing.map((order) =>
      compensate(ctx, settings, order.id, { products: true, coupon: order.coupon !== null }),
    ),
  );
}
