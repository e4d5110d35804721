// The shop's orders service and its saga, with the real products and coupons services on one
// broker (each with its own in-memory database): a checkout that goes through, each step that
// can fail and what it undoes, products that do not answer, and the recovery timer finishing an
// order a crash left pending. A listener service with durable handlers stands in for email and
// the gateway, so the outbox's events have somewhere to go and `waitForEvent` sees them.
import {
  defineService,
  FlotillaError,
  RequestTimeoutError,
  type ServiceBroker,
  ServiceNotAvailableError,
} from "flotilla";
import { createTestBroker, mockAction, waitForEvent } from "flotilla/testing";
import type { Kysely } from "kysely";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import coupons from "../../examples/shop/services/coupons/service.js";
import type { OrdersDB } from "../../examples/shop/services/orders/migrations.js";
import type { OrderStatusEvent } from "../../examples/shop/services/orders/order.js";
import { INTERRUPTED } from "../../examples/shop/services/orders/saga.js";
import orders from "../../examples/shop/services/orders/service.js";
import products, { type Product } from "../../examples/shop/services/products/service.js";
import { until } from "../harness/index.js";

const saved = process.env.SHOP_SEED;
beforeAll(() => {
  process.env.SHOP_SEED = "0"; // start from empty tables
});
afterAll(() => {
  if (saved === undefined) delete process.env.SHOP_SEED;
  else process.env.SHOP_SEED = saved;
});

const ada = { sub: "u-ada", email: "ada@shop.test", name: "Ada", role: "customer" };
const bob = { sub: "u-bob", email: "bob@shop.test", name: "Bob", role: "customer" };
const boss = { sub: "u-boss", email: "boss@shop.test", name: "Boss", role: "admin" };
const as = (user: typeof ada) => ({ meta: { user } });

/** Hears the orders' events, as email and the gateway would. */
const listener = defineService({
  name: "listener",
  events: {
    "orders.created": { durable: true, handler() {} },
    "orders.status": { durable: true, handler() {} },
  },
});

let broker: ServiceBroker;
let db: Kysely<OrdersDB>;
let mug: Product;
let tee: Product;

/** A broker with the three services and the listener, a mug, a T-shirt and two coupons. */
async function start(settings: { stepTimeout: number; staleAfter: number }): Promise<void> {
  broker = createTestBroker();
  broker.createService(products);
  broker.createService(coupons);
  const service = broker.createService({ ...orders, settings });
  broker.createService(listener);
  await broker.start();
  db = service.db as Kysely<OrdersDB>;
  const product = (sku: string, name: string, price: number, stock: number) =>
    broker.call("products.create", { sku, name, description: "", price, stock }, as(boss));
  mug = await product("MUG", "Enamel Mug", 1200, 5);
  tee = await product("TEE", "Flotilla T-Shirt", 2000, 3);
  const coupon = (code: string, amount: number, maxUses: number | null) =>
    broker.call("coupons.create", { code, kind: "percent", amount, maxUses }, as(boss));
  await coupon("WELCOME10", 10, null);
  await coupon("ONCE", 50, 1);
}

// Short steps, so compensations owed after a failure are retried within a test.
beforeEach(() => start({ stepTimeout: 1_000, staleAfter: 60_000 }));
afterEach(() => broker.stop());

const stockOf = async (p: Product) => (await broker.call("products.get", { id: p.id })).stock;
const usesOf = async (code: string) =>
  (await broker.call("coupons.list", {}, as(boss))).find((c) => c.code === code)?.used;
const rowOf = (id: string) =>
  db.selectFrom("orders").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
/** The next `orders.status` event with `status`. */
const nextStatus = (status: string) =>
  waitForEvent<OrderStatusEvent>(broker, "orders.status", (p) => p.status === status);

describe("orders: checkout", () => {
  it("confirms an order with a coupon: stock and coupon used, both events through the outbox", async () => {
    const created = waitForEvent(broker, "orders.created");
    const confirmed = nextStatus("confirmed");
    const order = await broker.call(
      "orders.checkout",
      {
        items: [
          { productId: mug.id, qty: 2 },
          { productId: tee.id, qty: 1 },
        ],
        coupon: "welcome10",
      },
      as(ada),
    );

    expect(order).toMatchObject({
      userId: ada.sub,
      status: "confirmed",
      items: [
        { productId: mug.id, name: "Enamel Mug", qty: 2, price: 1200 },
        { productId: tee.id, name: "Flotilla T-Shirt", qty: 1, price: 2000 },
      ],
      subtotal: 4400,
      discount: 440,
      total: 3960,
      coupon: "WELCOME10",
    });
    expect(order.reason).toBeUndefined();
    expect(Date.parse(order.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(await stockOf(mug)).toBe(3);
    expect(await stockOf(tee)).toBe(2);
    expect(await usesOf("WELCOME10")).toBe(1);

    expect((await created).params).toMatchObject({
      orderId: order.id,
      userId: ada.sub,
      email: ada.email,
      total: 3960,
      subtotal: 4400,
      discount: 440,
      coupon: "WELCOME10",
      items: order.items,
    });
    expect((await confirmed).params).toEqual({
      orderId: order.id,
      userId: ada.sub,
      email: ada.email,
      status: "confirmed",
    });

    // The history: the caller's own orders; another customer sees none of them.
    expect(await broker.call("orders.list", {}, as(ada))).toEqual([order]);
    expect(await broker.call("orders.get", { id: order.id }, as(ada))).toEqual(order);
    expect(await broker.call("orders.get", { id: order.id }, as(boss))).toEqual(order);
    expect(await broker.call("orders.list", {}, as(bob))).toEqual([]);
    await expect(broker.call("orders.get", { id: order.id }, as(bob))).rejects.toMatchObject({
      code: "ORDER_NOT_FOUND",
      status: 404,
    });
  });

  it("needs a logged-in caller", async () => {
    const items = [{ productId: mug.id, qty: 1 }];
    await expect(broker.call("orders.checkout", { items })).rejects.toMatchObject({
      code: "UNAUTHORIZED",
      status: 401,
    });
    await expect(broker.call("orders.list")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(await stockOf(mug)).toBe(5);
  });

  it("lists the newest order first", async () => {
    const first = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 1 }] },
      as(ada),
    );
    const second = await broker.call(
      "orders.checkout",
      { items: [{ productId: tee.id, qty: 9 }] },
      as(ada),
    );
    const ids = (await broker.call("orders.list", {}, as(ada))).map((o) => o.id);
    expect(ids).toEqual([second.id, first.id]);
  });
});

describe("orders: a failing step undoes the earlier ones", () => {
  it("out of stock: rejected with the product's name, nothing held", async () => {
    const items = [
      { productId: mug.id, qty: 2 },
      { productId: tee.id, qty: 4 },
    ];
    const order = await broker.call("orders.checkout", { items, coupon: "ONCE" }, as(ada));

    expect(order).toMatchObject({ status: "rejected", reason: "Out of stock: Flotilla T-Shirt" });
    // The lines are named from the catalog even though nothing was reserved.
    expect(order.items).toEqual([
      { productId: mug.id, name: "Enamel Mug", qty: 2, price: 1200 },
      { productId: tee.id, name: "Flotilla T-Shirt", qty: 4, price: 2000 },
    ]);
    expect(await stockOf(mug)).toBe(5);
    expect(await stockOf(tee)).toBe(3);
    expect(await usesOf("ONCE")).toBe(0);
    expect((await rowOf(order.id)).compensated).toBe(1);
  });

  it("coupon used up: rejected with the reason, the reserved stock released", async () => {
    const first = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 1 }], coupon: "ONCE" },
      as(bob),
    );
    expect(first).toMatchObject({ status: "confirmed", discount: 600, total: 600 });

    const rejected = nextStatus("rejected");
    const order = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 2 }], coupon: "ONCE" },
      as(ada),
    );
    expect(order).toMatchObject({ status: "rejected", reason: "Coupon ONCE is used up" });
    expect(order.items).toEqual([{ productId: mug.id, name: "Enamel Mug", qty: 2, price: 1200 }]);
    expect((await rejected).params).toEqual({
      orderId: order.id,
      userId: ada.sub,
      email: ada.email,
      status: "rejected",
      reason: "Coupon ONCE is used up",
    });
    expect(await stockOf(mug)).toBe(4); // the first order's unit only
    expect(await usesOf("ONCE")).toBe(1);
  });

  it("confirm failing: rejected, the stock and the coupon both released", async () => {
    const confirm = mockAction(broker, "products.confirm", () => {
      throw new FlotillaError("expired", "RESERVATION_EXPIRED", 409);
    });
    const order = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 3 }], coupon: "ONCE" },
      as(ada),
    );
    expect(confirm.calls).toHaveLength(1);
    expect(order).toMatchObject({
      status: "rejected",
      reason: "Your reservation expired, try again",
    });
    expect(await stockOf(mug)).toBe(5);
    expect(await usesOf("ONCE")).toBe(0);
    expect((await rowOf(order.id)).compensated).toBe(1);
  });
});

describe("orders: products that do not answer", () => {
  it("a reserve that timed out but happened is released", async () => {
    const real = broker.registry.actions.get("products.reserve")!;
    mockAction(broker, "products.reserve", async (ctx: never) => {
      await real.raw(ctx); // the stock is taken, but the answer never comes
      throw new RequestTimeoutError("products.reserve", 1_000);
    });
    const order = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 2 }] },
      as(ada),
    );
    expect(order).toMatchObject({
      status: "rejected",
      reason: "Products are unavailable, try again",
    });
    expect(await stockOf(mug)).toBe(5);
  });

  it("products down: rejected at once; the release it owes is retried by the timer", async () => {
    const down = (ctx: { name: string }) => {
      throw new ServiceNotAvailableError(ctx.name);
    };
    const reserve = mockAction(broker, "products.reserve", down);
    const release = mockAction(broker, "products.release", down);
    const order = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 1 }], coupon: "WELCOME10" },
      as(ada),
    );
    expect(order).toMatchObject({
      status: "rejected",
      reason: "Products are unavailable, try again",
    });
    expect(reserve.calls).toHaveLength(1);
    expect(release.calls).toHaveLength(1);
    expect((await rowOf(order.id)).compensated).toBe(0);

    // Products is back: the recovery timer runs the release again, and the order is settled.
    reserve.restore();
    release.restore();
    await until(async () => (await rowOf(order.id)).compensated === 1, {
      timeout: 10_000,
      message: "the owed release",
    });
    expect(await stockOf(mug)).toBe(5);
  });
});

describe("orders: the recovery timer", () => {
  it("finishes an order a crash left pending: rejected, orders.status, stock and coupon back", async () => {
    // What a process that died after reserving and holding leaves behind.
    const id = "interrupted-1";
    await broker.call("products.reserve", { orderId: id, items: [{ productId: mug.id, qty: 2 }] });
    await broker.call("coupons.hold", {
      code: "ONCE",
      userId: ada.sub,
      orderId: id,
      subtotal: 2400,
    });
    expect(await stockOf(mug)).toBe(3);
    expect(await usesOf("ONCE")).toBe(1);
    const long = new Date(Date.now() - 120_000).toISOString();
    await db
      .insertInto("orders")
      .values({
        id,
        user_id: ada.sub,
        email: ada.email,
        status: "pending",
        reason: null,
        items: JSON.stringify([{ productId: mug.id, name: "", qty: 2, price: 0 }]),
        subtotal: 0,
        discount: 0,
        total: 0,
        coupon: "ONCE",
        compensated: 0,
        created_at: long,
        updated_at: long,
      })
      .execute();
    // A pending order that is young is left to its saga.
    const young = new Date().toISOString();
    await db
      .insertInto("orders")
      .values({ ...(await rowOf(id)), id: "young-1", created_at: young, updated_at: young })
      .execute();

    const finished = await waitForEvent<OrderStatusEvent>(
      broker,
      "orders.status",
      (p) => p.orderId === id,
      { timeout: 10_000 },
    );
    expect(finished.params).toMatchObject({ status: "rejected", reason: INTERRUPTED });
    await until(async () => (await rowOf(id)).compensated === 1, { message: "the compensations" });
    expect(await stockOf(mug)).toBe(5);
    expect(await usesOf("ONCE")).toBe(0);
    expect(await broker.call("orders.get", { id }, as(ada))).toMatchObject({
      status: "rejected",
      reason: INTERRUPTED,
    });
    expect((await rowOf("young-1")).status).toBe("pending");
  });

  it("takes an order from a saga that stalled; the saga then undoes its own steps", async () => {
    await broker.stop();
    await start({ stepTimeout: 5_000, staleAfter: 100 });
    // products.confirm hangs until the timer has rejected the order (as a slow node would).
    mockAction(broker, "products.confirm", async (ctx: { params: { orderId: string } }) => {
      const id = ctx.params.orderId;
      await until(async () => (await rowOf(id)).status === "rejected", { timeout: 10_000 });
      return { confirmed: 1 };
    });
    const order = await broker.call(
      "orders.checkout",
      { items: [{ productId: mug.id, qty: 2 }], coupon: "ONCE" },
      as(ada),
    );
    expect(order).toMatchObject({ status: "rejected", reason: INTERRUPTED });
    await until(async () => (await rowOf(order.id)).compensated === 1, { message: "released" });
    expect(await stockOf(mug)).toBe(5);
    expect(await usesOf("ONCE")).toBe(0);
  });
});
