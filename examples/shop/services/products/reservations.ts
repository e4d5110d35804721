// Reservations: stock an order holds while its saga runs. Each function runs in the caller's
// transaction. Stock moves only through conditional updates (`stock = stock - qty where stock >=
// qty`, `status = … where status = 'held'`), which lock the rows they change on PostgreSQL and run
// one at a time on SQLite: two reservations never take the same unit, and a confirm racing the
// expiry timer or a release sees the row as the winner left it.
import { FlotillaError } from "flotilla";
import type { Kysely } from "kysely";
import type { ProductsDB } from "./migrations.js";

/** How long a reservation is held unless `SHOP_RESERVATION_TTL` says otherwise: 15 minutes. */
export const DEFAULT_RESERVATION_TTL = 15 * 60_000;

/** One line of a reservation: what was reserved, at which unit price (cents). */
export interface ReservedItem {
  productId: string;
  name: string;
  qty: number;
  price: number;
}

type Db = Kysely<ProductsDB>;

/**
 * How long reservations are held, in ms: `SHOP_RESERVATION_TTL`, else `fallback` (the service's
 * `reservationTtl` setting), else 15 minutes. Read at each use, so a test can shorten it.
 */
export function reservationTtl(fallback?: unknown): number {
  const env = Number(process.env.SHOP_RESERVATION_TTL);
  if (process.env.SHOP_RESERVATION_TTL && Number.isFinite(env) && env >= 0) return env;
  return typeof fallback === "number" && fallback >= 0 ? fallback : DEFAULT_RESERVATION_TTL;
}

function expired(orderId: string): FlotillaError {
  return new FlotillaError(
    `The reservation of order ${orderId} expired or was released.`,
    "RESERVATION_EXPIRED",
    409,
    { data: { orderId } },
  );
}

/** Sorts `[key, value]` entries by key: one fixed order that every transaction here locks in. */
const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/** Adds up the quantities of a product listed twice, keeping the order of first mention. */
function merged(items: readonly { productId: string; qty: number }[]): Map<string, number> {
  const qty = new Map<string, number>();
  for (const item of items) qty.set(item.productId, (qty.get(item.productId) ?? 0) + item.qty);
  return qty;
}

/** The lines of an order's reservation, in the order they were asked for. */
async function linesOf(db: Db, orderId: string) {
  return db
    .selectFrom("reservations")
    .select(["product_id", "name", "qty", "price", "status"])
    .where("order_id", "=", orderId)
    .orderBy("line")
    .execute();
}

/**
 * Takes the stock of every item for `orderId`, or none: the first product that is missing or
 * short throws (`PRODUCT_NOT_FOUND` 404, `OUT_OF_STOCK` 409 with `data.productId`) and the
 * transaction rolls back what the others took. Asked again for the same order, it answers
 * what it reserved the first time; for an order whose reservation was released,
 * `RESERVATION_EXPIRED`.
 */
export async function reserve(
  db: Db,
  orderId: string,
  items: readonly { productId: string; qty: number }[],
): Promise<ReservedItem[]> {
  const existing = await linesOf(db, orderId);
  if (existing.length > 0) {
    if (existing.some((l) => l.status === "released")) throw expired(orderId);
    return existing.map((l) => ({
      productId: l.product_id,
      name: l.name,
      qty: l.qty,
      price: l.price,
    }));
  }
  const wanted = merged(items);
  const now = new Date().toISOString();
  const reserved = new Map<string, ReservedItem>();
  // Products in ID order: two orders on PostgreSQL lock shared products in the same order, so
  // neither waits for a row the other holds while holding one it wants (no deadlock).
  for (const [productId, qty] of [...wanted].sort(byKey)) {
    const taken = await db
      .updateTable("products")
      .set((eb) => ({ stock: eb("stock", "-", qty), updated_at: now }))
      .where("id", "=", productId)
      .where("stock", ">=", qty)
      .returning(["name", "price"])
      .executeTakeFirst();
    if (taken === undefined) throw await shortage(db, productId, qty);
    reserved.set(productId, { productId, name: taken.name, qty, price: taken.price });
  }
  const lines = [...wanted.keys()].map((id) => reserved.get(id)!);
  await db
    .insertInto("reservations")
    .values(
      lines.map((l, line) => ({
        order_id: orderId,
        product_id: l.productId,
        line,
        name: l.name,
        price: l.price,
        qty: l.qty,
        status: "held" as const,
        held_at: now,
        updated_at: now,
      })),
    )
    .execute();
  return lines;
}

/** Why a product's stock could not be taken: it does not exist, or it has too little. */
async function shortage(db: Db, productId: string, qty: number): Promise<FlotillaError> {
  const product = await db
    .selectFrom("products")
    .select(["name", "stock"])
    .where("id", "=", productId)
    .executeTakeFirst();
  if (product === undefined) {
    return new FlotillaError(`No product ${productId}.`, "PRODUCT_NOT_FOUND", 404, {
      data: { productId },
    });
  }
  return new FlotillaError(
    `Only ${product.stock} of ${product.name} left, ${qty} asked for.`,
    "OUT_OF_STOCK",
    409,
    { data: { productId, requested: qty, available: product.stock } },
  );
}

/**
 * Marks an order's held reservation as sold and answers how many lines are confirmed. Again for
 * a confirmed order, the same answer; for one released (by the expiry timer or a release), or
 * never reserved, `RESERVATION_EXPIRED`.
 */
export async function confirm(db: Db, orderId: string): Promise<number> {
  await db
    .updateTable("reservations")
    .set({ status: "confirmed", updated_at: new Date().toISOString() })
    .where("order_id", "=", orderId)
    .where("status", "=", "held")
    .execute();
  const lines = await linesOf(db, orderId);
  if (lines.length === 0 || lines.some((l) => l.status !== "confirmed")) throw expired(orderId);
  return lines.length;
}

/**
 * Gives back the stock of lines matching `filter` that are held (or, for `orderId`, also
 * confirmed) and marks them released; answers how many lines it released.
 */
async function giveBack(
  db: Db,
  filter: { orderId: string } | { heldBefore: string },
): Promise<number> {
  let query = db
    .updateTable("reservations")
    .set({ status: "released", updated_at: new Date().toISOString() });
  query =
    "orderId" in filter
      ? query.where("order_id", "=", filter.orderId).where("status", "in", ["held", "confirmed"])
      : query.where("status", "=", "held").where("held_at", "<=", filter.heldBefore);
  const released = await query.returning(["product_id", "qty"]).execute();
  // One update per product, in ID order (as `reserve` locks them).
  const back = merged(released.map((r) => ({ productId: r.product_id, qty: r.qty })));
  for (const [productId, qty] of [...back].sort(byKey)) {
    await db
      .updateTable("products")
      .set((eb) => ({ stock: eb("stock", "+", qty), updated_at: new Date().toISOString() }))
      .where("id", "=", productId)
      .execute();
  }
  return released.length;
}

/**
 * Puts an order's held or confirmed stock back (a compensation of the saga) and answers how many
 * lines it released: 0 when there was nothing to release, so calling it again changes nothing.
 */
export function release(db: Db, orderId: string): Promise<number> {
  return giveBack(db, { orderId });
}

/** Releases every reservation held for `ttl` ms or longer; answers how many lines. */
export function releaseExpired(db: Db, ttl: number): Promise<number> {
  return giveBack(db, { heldBefore: new Date(Date.now() - ttl).toISOString() });
}

/** Whether some reservation has been held for `ttl` ms or longer (a read, no lock). */
export async function anyExpired(db: Db, ttl: number): Promise<boolean> {
  const row = await db
    .selectFrom("reservations")
    .select("order_id")
    .where("status", "=", "held")
    .where("held_at", "<=", new Date(Date.now() - ttl).toISOString())
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
