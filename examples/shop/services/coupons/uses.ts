// Uses of coupons: checked, held by an order, redeemed, released. Held and redeemed uses count
// against the limits. `hold` locks the coupon's row before it counts (PostgreSQL: `for update`;
// SQLite: the transaction holds the file's write lock from its start), so holds of one coupon
// run one after the other and a coupon with `maxUses: 1` raced by twenty buyers is held once.
import type { Kysely } from "kysely";
import type { CouponsDB } from "./migrations.js";
import { type Coupon, couponInvalid, discountOf, invalidReason, shown } from "./rules.js";

type Db = Kysely<CouponsDB>;

/** A coupon applied to a subtotal: the cents it takes off. */
export interface Applied {
  code: string;
  discount: number;
}

const ACTIVE = ["held", "redeemed"] as const;

/** Uses of `code` that count (held and redeemed), in all and by `userId`. */
async function usesOf(db: Db, code: string, userId: string | undefined) {
  const row = await db
    .selectFrom("coupon_uses")
    .select((eb) => [
      eb.fn.countAll().as("used"),
      eb.fn
        .sum(
          eb
            .case()
            .when("user_id", "=", userId ?? "")
            .then(1)
            .else(0)
            .end(),
        )
        .as("mine"),
    ])
    .where("code", "=", code)
    .where("status", "in", ACTIVE)
    .executeTakeFirstOrThrow();
  // PostgreSQL answers count and sum as bigint strings; sum over no rows is null.
  return { used: Number(row.used), mine: userId === undefined ? undefined : Number(row.mine ?? 0) };
}

/**
 * What `code` takes off `subtotal` for `userId` (`undefined`: anonymous, no per-user limit),
 * without holding it; throws `COUPON_INVALID` with the reason when it cannot be used.
 */
export async function check(
  db: Db,
  code: string,
  subtotal: number,
  userId: string | undefined,
): Promise<Applied> {
  const coupon = await db
    .selectFrom("coupons")
    .selectAll()
    .where("code", "=", code)
    .executeTakeFirst();
  if (coupon === undefined) throw couponInvalid(code, "unknown");
  const { used, mine } = await usesOf(db, code, userId);
  const reason = invalidReason(coupon, used, mine);
  if (reason !== undefined) throw couponInvalid(code, reason);
  return { code, discount: discountOf(coupon, subtotal) };
}

/**
 * Holds one use of `code` for an order, after checking it as {@link check} does with the limits
 * counted under the coupon's lock. Asked again for an order that holds (or redeemed) a use, it
 * answers that use. `lockRows`: take the row lock with `for update` (PostgreSQL).
 */
export async function hold(
  db: Db,
  lockRows: boolean,
  use: { code: string; userId: string; orderId: string; subtotal: number },
): Promise<Applied> {
  const { code, userId, orderId, subtotal } = use;
  const existing = await db
    .selectFrom("coupon_uses")
    .select(["code", "discount", "status"])
    .where("order_id", "=", orderId)
    .executeTakeFirst();
  if (existing !== undefined && existing.status !== "released") {
    return { code: existing.code, discount: existing.discount };
  }
  let query = db.selectFrom("coupons").selectAll().where("code", "=", code);
  if (lockRows) query = query.forUpdate();
  const coupon = await query.executeTakeFirst();
  if (coupon === undefined) throw couponInvalid(code, "unknown");
  const { used, mine } = await usesOf(db, code, userId);
  const reason = invalidReason(coupon, used, mine);
  if (reason !== undefined) throw couponInvalid(code, reason);
  const discount = discountOf(coupon, subtotal);
  const now = new Date().toISOString();
  const row = { code, user_id: userId, discount, status: "held" as const, updated_at: now };
  if (existing === undefined) {
    await db
      .insertInto("coupon_uses")
      .values({ ...row, order_id: orderId, created_at: now })
      .execute();
  } else {
    // The order released its use earlier and holds one again: the same row, held anew.
    await db.updateTable("coupon_uses").set(row).where("order_id", "=", orderId).execute();
  }
  return { code, discount };
}

/**
 * Marks an order's held use as redeemed; `true` when the order's use is redeemed (now or
 * before), `false` when it has none or released it.
 */
export async function redeem(db: Db, orderId: string): Promise<boolean> {
  await db
    .updateTable("coupon_uses")
    .set({ status: "redeemed", updated_at: new Date().toISOString() })
    .where("order_id", "=", orderId)
    .where("status", "=", "held")
    .execute();
  const row = await db
    .selectFrom("coupon_uses")
    .select("status")
    .where("order_id", "=", orderId)
    .executeTakeFirst();
  return row?.status === "redeemed";
}

/**
 * Gives an order's held or redeemed use back, so it no longer counts against the limits; `true`
 * when this call released it, `false` when there was nothing to release.
 */
export async function release(db: Db, orderId: string): Promise<boolean> {
  const result = await db
    .updateTable("coupon_uses")
    .set({ status: "released", updated_at: new Date().toISOString() })
    .where("order_id", "=", orderId)
    .where("status", "in", ACTIVE)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Every coupon (or only `code`), by code, with its count of held and redeemed uses. */
export async function listCoupons(db: Db, code?: string): Promise<Coupon[]> {
  let coupons = db.selectFrom("coupons").selectAll().orderBy("code");
  let uses = db
    .selectFrom("coupon_uses")
    .select((eb) => ["code", eb.fn.countAll().as("used")])
    .where("status", "in", ACTIVE)
    .groupBy("code");
  if (code !== undefined) {
    coupons = coupons.where("code", "=", code);
    uses = uses.where("code", "=", code);
  }
  const [rows, counts] = await Promise.all([coupons.execute(), uses.execute()]);
  const used = new Map(counts.map((c) => [c.code, Number(c.used)]));
  return rows.map((row) => shown(row, used.get(row.code) ?? 0));
}
