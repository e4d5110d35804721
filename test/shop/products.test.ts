import type { ServiceBroker } from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import products, { type Product } from "../../examples/shop/services/products/service.js";
import { SEED_PRODUCTS } from "../../examples/shop/shared/seed.js";
import { until } from "../harness/index.js";
import { DIALECTS, shopDialects } from "./fixtures/dialects.js";

// No demo data, the default TTL, and no database URL from the environment: each test says where
// its data is.
const ENV = [
  "SHOP_SEED",
  "SHOP_RESERVATION_TTL",
  "FLOTILLA_DB_URL",
  "FLOTILLA_DB_URL_PRODUCTS",
] as const;
const saved = new Map(ENV.map((k) => [k, process.env[k]]));
beforeAll(() => {
  for (const key of ENV) delete process.env[key];
  process.env.SHOP_SEED = "0";
});
afterAll(() => {
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

const admin = { meta: { user: { sub: "a1", email: "a@shop.test", name: "A", role: "admin" } } };
const customer = {
  meta: { user: { sub: "c1", email: "c@shop.test", name: "C", role: "customer" } },
};

const { on, dropSchemas } = shopDialects();

let broker: ServiceBroker;

/** Adds a product as an admin would. */
function add(sku: string, stock: number, extra: Partial<Product> = {}): Promise<Product> {
  const product = { sku, name: `Product ${sku}`, description: "", price: 1000, stock, ...extra };
  return broker.call("products.create", product, admin);
}

const stockOf = async (id: string) => (await broker.call("products.get", { id })).stock;

describe.each(DIALECTS)("products on %s", (dialect) => {
  beforeEach(async () => {
    broker = createTestBroker();
    broker.createService(on(dialect, products));
    await broker.start();
    // The suite runs where it says it does.
    expect(broker.health().databases.products?.dialect).toBe(
      dialect === "SQLite" ? "sqlite" : "postgres",
    );
  });
  afterEach(async () => {
    await broker.stop();
    await dropSchemas();
  });

  describe("products: the catalog", () => {
    it("lists by name in pages and searches names and descriptions without case", async () => {
      await add("MUG", 5, { name: "Enamel Mug", description: "For coffee" });
      await add("TEE", 5, { name: "T-Shirt", description: "Cotton, with a MUG print" });
      await add("CAP", 5, { name: "Cap", description: "Cotton cap" });
      await add("PCT", 5, { name: "100% Wool Socks", description: "Warm" });

      const all = await broker.call("products.list", {});
      expect(all).toMatchObject({ total: 4, page: 1, pageSize: 12 });
      expect(all.items.map((p) => p.name)).toEqual([
        "100% Wool Socks",
        "Cap",
        "Enamel Mug",
        "T-Shirt",
      ]);
      expect(Object.keys(all.items[0]!).sort()).toEqual(
        ["description", "id", "name", "price", "sku", "stock"].sort(),
      );

      const mugs = await broker.call("products.list", { q: "mug" });
      expect(mugs.total).toBe(2);
      expect(mugs.items.map((p) => p.sku)).toEqual(["MUG", "TEE"]);
      expect((await broker.call("products.list", { q: "COTTON" })).total).toBe(2);
      // `%` and `_` in the search are themselves, not wildcards.
      expect((await broker.call("products.list", { q: "100%" })).total).toBe(1);
      expect((await broker.call("products.list", { q: "%" })).total).toBe(1);
      expect((await broker.call("products.list", { q: "_" })).total).toBe(0);

      const page2 = await broker.call("products.list", { page: 2, pageSize: 3 });
      expect(page2).toMatchObject({ total: 4, page: 2, pageSize: 3 });
      expect(page2.items.map((p) => p.name)).toEqual(["T-Shirt"]);
      // As the gateway passes a query string: numbers as text.
      const fromQuery = await broker.call("products.list", { page: "3", pageSize: "2" } as never);
      expect(fromQuery).toMatchObject({ items: [], total: 4, page: 3, pageSize: 2 });
    });

    it("gets one product, or PRODUCT_NOT_FOUND", async () => {
      const mug = await add("MUG", 5);
      expect(await broker.call("products.get", { id: mug.id })).toEqual(mug);
      await expect(broker.call("products.get", { id: "nope" })).rejects.toMatchObject({
        code: "PRODUCT_NOT_FOUND",
        status: 404,
      });
    });

    it("lets admins create and update products, and nobody else", async () => {
      const mug = await add("MUG", 5);
      await expect(add("MUG", 1)).rejects.toMatchObject({ code: "SKU_TAKEN", status: 409 });

      const changed = await broker.call(
        "products.update",
        { id: mug.id, price: 1500, stock: 7 },
        admin,
      );
      expect(changed).toEqual({ ...mug, price: 1500, stock: 7 });
      const missing = broker.call("products.update", { id: "nope", price: 1 }, admin);
      await expect(missing).rejects.toMatchObject({ code: "PRODUCT_NOT_FOUND" });

      const asCustomer = broker.call("products.update", { id: mug.id, price: 1 }, customer);
      await expect(asCustomer).rejects.toMatchObject({ code: "FORBIDDEN", status: 403 });
      const anonymous = broker.call("products.create", {
        sku: "X",
        name: "X",
        description: "",
        price: 1,
        stock: 1,
      });
      await expect(anonymous).rejects.toMatchObject({ status: 401 });
      expect(await stockOf(mug.id)).toBe(7);
    });

    it("seeds the demo catalog into an empty table unless SHOP_SEED=0", async () => {
      process.env.SHOP_SEED = "1";
      const node = createTestBroker();
      try {
        node.createService(on(dialect, products));
        await node.start();
        const page = await node.call("products.list", { pageSize: 100 });
        expect(page.total).toBe(SEED_PRODUCTS.length);
        expect(page.items.map((p) => p.sku).sort()).toEqual(SEED_PRODUCTS.map((p) => p.sku).sort());
      } finally {
        process.env.SHOP_SEED = "0";
        await node.stop();
      }
      expect((await broker.call("products.list", {})).total).toBe(0);
    });
  });

  describe("products: reservations", () => {
    it("reserves every item or none, and names the product that is short", async () => {
      const mug = await add("MUG", 5, { price: 1200, name: "Mug" });
      const tee = await add("TEE", 2, { price: 2500, name: "Tee" });

      const short = broker.call("products.reserve", {
        orderId: "o1",
        items: [
          { productId: mug.id, qty: 3 },
          { productId: tee.id, qty: 3 },
        ],
      });
      await expect(short).rejects.toMatchObject({
        code: "OUT_OF_STOCK",
        status: 409,
        data: { productId: tee.id, requested: 3, available: 2 },
      });
      expect(await stockOf(mug.id)).toBe(5); // the mugs taken first were given back

      const unknown = broker.call("products.reserve", {
        orderId: "o2",
        items: [
          { productId: mug.id, qty: 1 },
          { productId: "nope", qty: 1 },
        ],
      });
      await expect(unknown).rejects.toMatchObject({
        code: "PRODUCT_NOT_FOUND",
        status: 404,
        data: { productId: "nope" },
      });
      expect(await stockOf(mug.id)).toBe(5);

      const items = [
        { productId: tee.id, qty: 2 },
        { productId: mug.id, qty: 1 },
        { productId: mug.id, qty: 2 }, // the same product twice: 3 in all
      ];
      const reserved = await broker.call("products.reserve", { orderId: "o3", items });
      expect(reserved.items).toEqual([
        { productId: tee.id, name: "Tee", qty: 2, price: 2500 },
        { productId: mug.id, name: "Mug", qty: 3, price: 1200 },
      ]);
      expect(await stockOf(mug.id)).toBe(2);
      expect(await stockOf(tee.id)).toBe(0);
      // Asked again for the same order (a retry): the same answer, no more stock taken.
      expect(await broker.call("products.reserve", { orderId: "o3", items })).toEqual(reserved);
      expect(await stockOf(mug.id)).toBe(2);
    });

    it("lets exactly 10 of 50 concurrent reservations of 1 take a stock of 10", async () => {
      const mug = await add("MUG", 10);
      // Reads at once first: on PostgreSQL they open the pool's connections, so the reservations
      // below start together instead of one per new connection (and the race is a real one).
      await Promise.all(Array.from({ length: 10 }, () => stockOf(mug.id)));
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          broker.call("products.reserve", {
            orderId: `race-${i}`,
            items: [{ productId: mug.id, qty: 1 }],
          }),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected");
      expect(won).toHaveLength(10);
      for (const r of lost) {
        expect(r.reason).toMatchObject({ code: "OUT_OF_STOCK", data: { productId: mug.id } });
      }
      expect(await stockOf(mug.id)).toBe(0);
    });

    it("confirms and releases once per order, whatever the number of calls", async () => {
      const mug = await add("MUG", 5);
      const items = [{ productId: mug.id, qty: 2 }];
      await broker.call("products.reserve", { orderId: "sold", items });
      await broker.call("products.reserve", { orderId: "cancelled", items });
      expect(await stockOf(mug.id)).toBe(1);

      expect(await broker.call("products.confirm", { orderId: "sold" })).toEqual({ confirmed: 1 });
      expect(await broker.call("products.confirm", { orderId: "sold" })).toEqual({ confirmed: 1 });
      expect(await stockOf(mug.id)).toBe(1);

      expect(await broker.call("products.release", { orderId: "cancelled" })).toEqual({
        released: 1,
      });
      expect(await broker.call("products.release", { orderId: "cancelled" })).toEqual({
        released: 0,
      });
      expect(await stockOf(mug.id)).toBe(3);
      // A released reservation cannot be confirmed, nor one that never was.
      for (const orderId of ["cancelled", "never"]) {
        await expect(broker.call("products.confirm", { orderId })).rejects.toMatchObject({
          code: "RESERVATION_EXPIRED",
          status: 409,
          data: { orderId },
        });
      }
      // Nor reserved again under the same order ID.
      await expect(
        broker.call("products.reserve", { orderId: "cancelled", items }),
      ).rejects.toMatchObject({ code: "RESERVATION_EXPIRED" });

      // Releasing a confirmed order (the saga's compensation) gives its stock back, once.
      const twice = await Promise.all([
        broker.call("products.release", { orderId: "sold" }),
        broker.call("products.release", { orderId: "sold" }),
      ]);
      expect(twice.map((r) => r.released).sort()).toEqual([0, 1]);
      expect(await stockOf(mug.id)).toBe(5);
    });

    it("gives back the stock of reservations held longer than SHOP_RESERVATION_TTL", async () => {
      const mug = await add("MUG", 5);
      await broker.call("products.reserve", {
        orderId: "kept",
        items: [{ productId: mug.id, qty: 1 }],
      });
      await broker.call("products.confirm", { orderId: "kept" });
      await broker.call("products.reserve", {
        orderId: "abandoned",
        items: [{ productId: mug.id, qty: 3 }],
      });
      expect(await stockOf(mug.id)).toBe(1);

      process.env.SHOP_RESERVATION_TTL = "1"; // read by the timer at each run (every second)
      try {
        await until(async () => (await stockOf(mug.id)) === 4, {
          timeout: 5_000,
          message: "the expiry timer to release the abandoned reservation",
        });
      } finally {
        delete process.env.SHOP_RESERVATION_TTL;
      }
      await expect(broker.call("products.confirm", { orderId: "abandoned" })).rejects.toMatchObject(
        {
          code: "RESERVATION_EXPIRED",
        },
      );
      // The confirmed one stays sold; releasing the expired one again gives nothing more back.
      expect(await broker.call("products.release", { orderId: "abandoned" })).toEqual({
        released: 0,
      });
      expect(await stockOf(mug.id)).toBe(4);
    });
  });
});
