// The products service: the catalog and its stock. The storefront lists and searches it; the
// orders saga reserves stock, then confirms or releases it (reservations.ts); a timer gives back
// what an order held longer than `SHOP_RESERVATION_TTL`; admins add and change products.
import { randomUUID } from "node:crypto";
import { ConflictError, defineDatabase, defineService, FlotillaError } from "flotilla";
import { type Kysely, sql } from "kysely";
import { z } from "zod";
import { SEED_PRODUCTS, seedEnabled } from "../../shared/seed.js";
import { migrations, type ProductsDB } from "./migrations.js";
import {
  anyExpired,
  confirm,
  DEFAULT_RESERVATION_TTL,
  type ReservedItem,
  release,
  releaseExpired,
  reservationTtl,
  reserve,
} from "./reservations.js";

/** A product as the service shows it; `stock` is what can still be reserved. */
export interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  price: number;
  stock: number;
}

/** One page of {@link Product}s, and how many match in all. */
export interface ProductPage {
  items: Product[];
  total: number;
  page: number;
  pageSize: number;
}

const COLUMNS = ["id", "sku", "name", "description", "price", "stock"] as const;

function notFound(id: string): FlotillaError {
  return new FlotillaError(`No product ${id}.`, "PRODUCT_NOT_FOUND", 404, {
    data: { productId: id },
  });
}

async function byId(db: Kysely<ProductsDB>, id: string): Promise<Product> {
  const row = await db
    .selectFrom("products")
    .select(COLUMNS)
    .where("id", "=", id)
    .executeTakeFirst();
  if (row === undefined) throw notFound(id);
  return row;
}

/** `text` as a `like` pattern matching it anywhere: its `%`, `_` and `\` match themselves. */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const money = z.number().int().min(0).max(100_000_000);
const stock = z.number().int().min(0).max(1_000_000);
const admin = { roles: ["admin"], enforce: "always" } as const;

/** The catalog, its stock, and reservations of stock for orders. */
export const products = defineService({
  name: "products",
  /** `reservationTtl`: how long reservations are held (ms) when `SHOP_RESERVATION_TTL` is unset. */
  settings: { reservationTtl: DEFAULT_RESERVATION_TTL },
  database: defineDatabase<ProductsDB>({ migrations }),
  actions: {
    list: {
      params: z.object({
        q: z.string().trim().max(100).optional(),
        page: z.coerce.number().int().min(1).default(1),
        pageSize: z.coerce.number().int().min(1).max(100).default(12),
      }),
      rest: "GET /products",
      visibility: "published",
      summary: "A page of products by name; `q` searches names and descriptions",
      async handler(ctx): Promise<ProductPage> {
        const { q, page, pageSize } = ctx.params;
        let query = ctx.db.selectFrom("products");
        if (q) {
          // lower() on both sides and an explicit escape: the same on SQLite and PostgreSQL.
          const pattern = containing(q);
          query = query.where((eb) =>
            eb.or([
              sql<boolean>`lower(name) like lower(${pattern}) escape '\\'`,
              sql<boolean>`lower(description) like lower(${pattern}) escape '\\'`,
            ]),
          );
        }
        const [items, count] = await Promise.all([
          query
            .select(COLUMNS)
            .orderBy("name")
            .orderBy("id")
            .limit(pageSize)
            .offset((page - 1) * pageSize)
            .execute(),
          query.select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow(),
        ]);
        // PostgreSQL answers count(*) as a bigint string.
        return { items, total: Number(count.n), page, pageSize };
      },
    },

    get: {
      params: z.object({ id: z.string().min(1) }),
      rest: "GET /products/:id",
      visibility: "published",
      summary: "One product",
      handler: (ctx): Promise<Product> => byId(ctx.db, ctx.params.id),
    },

    reserve: {
      params: z.object({
        orderId: z.string().min(1),
        items: z
          .array(z.object({ productId: z.string().min(1), qty: z.number().int().min(1).max(1000) }))
          .min(1)
          .max(100),
      }),
      summary: "Holds stock for an order: every item or none",
      async handler(ctx): Promise<{ items: ReservedItem[] }> {
        const { orderId, items } = ctx.params;
        return { items: await ctx.transaction((tx) => reserve(tx.db, orderId, items)) };
      },
    },

    confirm: {
      params: z.object({ orderId: z.string().min(1) }),
      summary: "Turns an order's held stock into sold stock (idempotent)",
      async handler(ctx): Promise<{ confirmed: number }> {
        const orderId = ctx.params.orderId;
        return { confirmed: await ctx.transaction((tx) => confirm(tx.db, orderId)) };
      },
    },

    release: {
      params: z.object({ orderId: z.string().min(1) }),
      summary: "Gives an order's held or confirmed stock back (idempotent)",
      async handler(ctx): Promise<{ released: number }> {
        const orderId = ctx.params.orderId;
        return { released: await ctx.transaction((tx) => release(tx.db, orderId)) };
      },
    },

    create: {
      params: z.object({
        sku: z.string().trim().min(1).max(64),
        name: z.string().trim().min(1).max(200),
        description: z.string().max(4000).default(""),
        price: money,
        stock,
      }),
      auth: admin,
      rest: "POST /products",
      visibility: "published",
      summary: "Adds a product (admin)",
      async handler(ctx): Promise<Product> {
        const now = new Date().toISOString();
        const product: Product = { id: randomUUID(), ...ctx.params };
        try {
          await ctx.db
            .insertInto("products")
            .values({ ...product, created_at: now, updated_at: now })
            .execute();
        } catch (err) {
          if (err instanceof ConflictError) {
            throw new FlotillaError(`SKU ${product.sku} exists already.`, "SKU_TAKEN", 409, {
              data: { sku: product.sku },
            });
          }
          throw err;
        }
        return product;
      },
    },

    update: {
      params: z.object({
        id: z.string().min(1),
        name: z.string().trim().min(1).max(200).optional(),
        description: z.string().max(4000).optional(),
        price: money.optional(),
        stock: stock.optional(),
      }),
      auth: admin,
      rest: "PATCH /products/:id",
      visibility: "published",
      summary: "Changes a product's name, description, price or stock (admin)",
      async handler(ctx): Promise<Product> {
        const { id, ...changes } = ctx.params;
        return ctx.transaction(async (tx) => {
          const updated = await tx.db
            .updateTable("products")
            .set({ ...changes, updated_at: new Date().toISOString() })
            .where("id", "=", id)
            .executeTakeFirst();
          if (updated.numUpdatedRows === 0n) throw notFound(id);
          return byId(tx.db, id);
        });
      },
    },
  },

  timers: {
    /** Gives back the stock of reservations held longer than the TTL (orders that never ended). */
    expire: {
      every: "1s",
      async handler(ctx) {
        const ttl = reservationTtl(ctx.service?.settings.reservationTtl);
        // A read first: most seconds there is nothing to do, and no write lock is taken.
        if (!(await anyExpired(ctx.db, ttl))) return;
        const released = await ctx.transaction((tx) => releaseExpired(tx.db, ttl));
        if (released > 0) ctx.logger.info({ released, ttl }, "released expired reservations");
      },
    },
  },

  /** Inserts the demo catalog into an empty table (unless `SHOP_SEED=0`). */
  async started(service) {
    if (!seedEnabled()) return;
    await service.transaction(async (tx) => {
      const any = await tx.db.selectFrom("products").select("id").limit(1).executeTakeFirst();
      if (any !== undefined) return;
      const now = new Date().toISOString();
      await tx.db
        .insertInto("products")
        .values(
          SEED_PRODUCTS.map((p) => ({ id: randomUUID(), ...p, created_at: now, updated_at: now })),
        )
        .execute();
    });
  },
});

declare module "flotilla" {
  interface Services {
    products: typeof products;
  }
}

export default products;
