// The coupons service's tables, portable between SQLite and PostgreSQL: amounts in integer cents
// (or percent), times as ISO 8601 text (they sort as they compare), `null` for "no bound".
import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** How a coupon takes money off: a percentage of the subtotal, or a fixed amount in cents. */
export type CouponKind = "percent" | "fixed";

/** Where one use of a coupon stands: held by an order in progress, redeemed, or given back. */
export type UseStatus = "held" | "redeemed" | "released";

/** The rows of the coupons service. */
export interface CouponsDB {
  coupons: {
    /** Upper-case, unique. */
    code: string;
    kind: CouponKind;
    /** Percent (1–100) or cents. */
    amount: number;
    valid_from: string | null;
    valid_until: string | null;
    /** Uses in all (held and redeemed ones count); `null`: no limit. */
    max_uses: number | null;
    /** Uses per user; `null`: no limit. */
    max_uses_per_user: number | null;
    created_at: string;
    updated_at: string;
  };
  /** One row per order that holds (or held) a coupon. */
  coupon_uses: {
    order_id: string;
    code: string;
    user_id: string;
    /** Cents taken off that order. */
    discount: number;
    status: UseStatus;
    created_at: string;
    updated_at: string;
  };
}

/** The coupons service's migrations, run in name order when it starts. */
export const migrations: Record<string, Migration> = {
  "0001_coupons": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("coupons")
        .addColumn("code", "text", (c) => c.primaryKey())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("amount", "integer", (c) => c.notNull())
        .addColumn("valid_from", "text")
        .addColumn("valid_until", "text")
        .addColumn("max_uses", "integer")
        .addColumn("max_uses_per_user", "integer")
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("coupon_uses")
        .addColumn("order_id", "text", (c) => c.primaryKey())
        .addColumn("code", "text", (c) => c.notNull().references("coupons.code"))
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("discount", "integer", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      // The limits' counts: uses of a code by status, and by user.
      await db.schema
        .createIndex("coupon_uses_code_user")
        .on("coupon_uses")
        .columns(["code", "user_id", "status"])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("coupon_uses").execute();
      await db.schema.dropTable("coupons").execute();
    },
  },
};
