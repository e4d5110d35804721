// The orders service's table, portable between SQLite and PostgreSQL: text IDs (UUIDs), money in
// integer cents, times as ISO 8601 text (they sort as they compare), the order's lines as JSON
// text (they are read and written with their order, never queried on their own).
import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** Where an order is: the saga runs while `pending`, and ends it `confirmed` or `rejected`. */
export type OrderStatus = "pending" | "confirmed" | "rejected";

/** The rows of the orders service. */
export interface OrdersDB {
  orders: {
    /** A UUID. */
    id: string;
    /** The buyer: the token's `sub`. */
    user_id: string;
    /** The buyer's email when they ordered: where the confirmation goes. */
    email: string;
    status: OrderStatus;
    /** Why a rejected order was rejected, for people ("Out of stock: Blue mug"). */
    reason: string | null;
    /** JSON: `[{ productId, name, qty, price }]`; `name` and `price` once reserved. */
    items: string;
    subtotal: number;
    discount: number;
    total: number;
    /** The coupon code asked for (the canonical one once held), if any. */
    coupon: string | null;
    /**
     * 1 once the compensations of a rejected order went through; 0 while they are owed (the
     * recovery timer retries them). Always 0 for pending and confirmed orders.
     */
    compensated: number;
    /** ISO 8601. */
    created_at: string;
    /** ISO 8601: the last change of status (or of the lines and prices, while pending). */
    updated_at: string;
  };
}

/** The orders service's migrations, run in name order when it starts. */
export const migrations: Record<string, Migration> = {
  "0001_orders": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("orders")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("email", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("reason", "text")
        .addColumn("items", "text", (c) => c.notNull())
        .addColumn("subtotal", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("discount", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("total", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("coupon", "text")
        .addColumn("compensated", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      // A customer's history, newest first; the recovery timer's scan of unfinished orders.
      await db.schema
        .createIndex("orders_user_created")
        .on("orders")
        .columns(["user_id", "created_at"])
        .execute();
      await db.schema
        .createIndex("orders_status_updated")
        .on("orders")
        .columns(["status", "updated_at"])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("orders").execute();
    },
  },
};
