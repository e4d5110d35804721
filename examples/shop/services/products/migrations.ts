// The products service's tables, portable between SQLite and PostgreSQL: text IDs (UUIDs), money
// in integer cents, times as ISO 8601 text (they sort as they compare). A check constraint keeps
// `stock` at 0 or more whatever a query does.
import { type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";

/** Where a reservation stands: holding stock, sold, or given back. */
export type ReservationStatus = "held" | "confirmed" | "released";

/** The rows of the products service. */
export interface ProductsDB {
  products: {
    /** A UUID. */
    id: string;
    /** Unique: the merchant's article number. */
    sku: string;
    name: string;
    description: string;
    /** Cents. */
    price: number;
    /** What can still be reserved; never below 0. */
    stock: number;
    created_at: string;
    updated_at: string;
  };
  /** One row per product of an order's reservation. */
  reservations: {
    order_id: string;
    product_id: string;
    /** The position in the order's list, to answer a repeated reserve in the same order. */
    line: number;
    /** The product's name and unit price when reserved: what the order is charged. */
    name: string;
    price: number;
    qty: number;
    status: ReservationStatus;
    /** When the stock was taken (ISO 8601); the expiry timer compares it with the TTL. */
    held_at: string;
    updated_at: string;
  };
}

/** The products service's migrations, run in name order when it starts. */
export const migrations: Record<string, Migration> = {
  "0001_products": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("products")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("sku", "text", (c) => c.notNull().unique())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("price", "integer", (c) => c.notNull())
        .addColumn("stock", "integer", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addCheckConstraint("products_price_not_negative", sql`price >= 0`)
        .addCheckConstraint("products_stock_not_negative", sql`stock >= 0`)
        .execute();
      await db.schema
        .createTable("reservations")
        .addColumn("order_id", "text", (c) => c.notNull())
        .addColumn("product_id", "text", (c) => c.notNull())
        .addColumn("line", "integer", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("price", "integer", (c) => c.notNull())
        .addColumn("qty", "integer", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("held_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("reservations_pkey", ["order_id", "product_id"])
        .addCheckConstraint("reservations_qty_positive", sql`qty > 0`)
        .execute();
      // The expiry timer's query: held reservations by age.
      await db.schema
        .createIndex("reservations_status_held_at")
        .on("reservations")
        .columns(["status", "held_at"])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("reservations").execute();
      await db.schema.dropTable("products").execute();
    },
  },
};
