import type { ServiceBroker } from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import coupons from "../../examples/shop/services/coupons/service.js";
import { SEED_COUPONS } from "../../examples/shop/shared/seed.js";
import { DIALECTS, shopDialects } from "./fixtures/dialects.js";

// No demo data, and no database URL from the environment: each test says where its data is.
const ENV = ["SHOP_SEED", "FLOTILLA_DB_URL", "FLOTILLA_DB_URL_COUPONS"] as const;
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

const userMeta = (sub: string, role = "customer") => ({
  meta: { user: { sub, email: `${sub}@shop.test`, name: sub, role } },
});
const admin = userMeta("admin", "admin");

const { on, dropSchemas } = shopDialects();

let broker: ServiceBroker;

type NewCoupon = {
  code: string;
  kind: "percent" | "fixed";
  amount: number;
  validFrom?: string | null;
  validUntil?: string | null;
  maxUses?: number | null;
  maxUsesPerUser?: number | null;
};
const create = (coupon: NewCoupon) => broker.call("coupons.create", coupon, admin);
const hold = (code: string, userId: string, orderId: string, subtotal = 10_000) =>
  broker.call("coupons.hold", { code, userId, orderId, subtotal });
/**
 * Ten checks at once: on PostgreSQL they open the pool's connections, so the racing calls that
 * follow start together instead of one per new connection (and the race is a real one).
 */
const openConnections = () =>
  Promise.allSettled(
    Array.from({ length: 10 }, () => broker.call("coupons.check", { code: "X", subtotal: 1 })),
  );
const invalid = (reason: string) => ({ code: "COUPON_INVALID", status: 422, data: { reason } });
const hour = 60 * 60 * 1000;

describe.each(DIALECTS)("coupons on %s", (dialect) => {
  beforeEach(async () => {
    broker = createTestBroker();
    broker.createService(on(dialect, coupons));
    await broker.start();
    // The suite runs where it says it does.
    expect(broker.health().databases.coupons?.dialect).toBe(
      dialect === "SQLite" ? "sqlite" : "postgres",
    );
  });
  afterEach(async () => {
    await broker.stop();
    await dropSchemas();
  });

  describe("coupons: what a code is worth", () => {
    it("takes a percentage (rounded down) or a fixed amount, never more than the subtotal", async () => {
      await create({ code: "welcome10", kind: "percent", amount: 10 });
      await create({ code: "FIVEOFF", kind: "fixed", amount: 500 });

      // Codes are not case-sensitive; anonymous checks are allowed.
      const check = (code: string, subtotal: number) =>
        broker.call("coupons.check", { code, subtotal }, userMeta("u1"));
      expect(await check("WELCOME10", 1999)).toEqual({ code: "WELCOME10", discount: 199 });
      expect(await check(" fiveoff ", 1999)).toEqual({ code: "FIVEOFF", discount: 500 });
      expect(await check("FIVEOFF", 300)).toEqual({ code: "FIVEOFF", discount: 300 });
      const anonymous = await broker.call("coupons.check", { code: "welcome10", subtotal: 100 });
      expect(anonymous).toEqual({ code: "WELCOME10", discount: 10 });

      await expect(check("NOPE", 1000)).rejects.toMatchObject({
        ...invalid("unknown"),
        data: { code: "NOPE", reason: "unknown" },
      });
    });

    it("refuses a coupon before its window opens and after it closes", async () => {
      const now = Date.now();
      await create({
        code: "LATER",
        kind: "percent",
        amount: 5,
        validFrom: new Date(now + hour).toISOString(),
      });
      await create({
        code: "PAST",
        kind: "percent",
        amount: 5,
        validUntil: new Date(now - hour).toISOString(),
      });
      await create({
        code: "NOW",
        kind: "percent",
        amount: 5,
        validFrom: new Date(now - hour).toISOString(),
        validUntil: new Date(now + hour).toISOString(),
      });
      const check = (code: string) => broker.call("coupons.check", { code, subtotal: 1000 });
      await expect(check("LATER")).rejects.toMatchObject(invalid("not_started"));
      await expect(check("PAST")).rejects.toMatchObject(invalid("expired"));
      await expect(hold("PAST", "u1", "o1")).rejects.toMatchObject(invalid("expired"));
      expect(await check("NOW")).toEqual({ code: "NOW", discount: 50 });
    });
  });

  describe("coupons: limits", () => {
    it("lets exactly one of 20 buyers racing for a maxUses: 1 coupon hold it", async () => {
      await create({ code: "ONCE", kind: "fixed", amount: 1000, maxUses: 1 });
      await openConnections();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => hold("ONCE", `user-${i}`, `order-${i}`)),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results.filter((r) => r.status === "rejected")) {
        expect(r.reason).toMatchObject(invalid("used_up"));
      }
      const [once] = await broker.call("coupons.list", {}, admin);
      expect(once).toMatchObject({ code: "ONCE", used: 1 });
    });

    it("holds a per-user limit, counting held and redeemed uses", async () => {
      await create({ code: "TWICE", kind: "percent", amount: 20, maxUsesPerUser: 2 });
      expect(await hold("TWICE", "ada", "a1")).toEqual({ code: "TWICE", discount: 2000 });
      expect(await broker.call("coupons.redeem", { orderId: "a1" })).toEqual({ redeemed: true });
      await hold("TWICE", "ada", "a2"); // held, not yet redeemed: it counts too
      await expect(hold("TWICE", "ada", "a3")).rejects.toMatchObject(invalid("used_by_you"));
      const checkAda = broker.call(
        "coupons.check",
        { code: "TWICE", subtotal: 1 },
        userMeta("ada"),
      );
      await expect(checkAda).rejects.toMatchObject(invalid("used_by_you"));
      // Another user is not affected, nor is a check without a user.
      expect(await hold("TWICE", "grace", "g1")).toEqual({ code: "TWICE", discount: 2000 });
      await broker.call("coupons.check", { code: "TWICE", subtotal: 1 });

      // Concurrent holds by one user stop at the limit too.
      await create({ code: "SOLO", kind: "fixed", amount: 100, maxUsesPerUser: 1 });
      await openConnections();
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => hold("SOLO", "linus", `l${i}`)),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    });

    it("frees a use when the order releases it, once", async () => {
      await create({ code: "ONCE", kind: "fixed", amount: 1000, maxUses: 1 });
      await hold("ONCE", "ada", "a1");
      await expect(hold("ONCE", "grace", "g1")).rejects.toMatchObject(invalid("used_up"));

      expect(await broker.call("coupons.release", { orderId: "a1" })).toEqual({ released: true });
      expect(await broker.call("coupons.release", { orderId: "a1" })).toEqual({ released: false });
      expect(await broker.call("coupons.redeem", { orderId: "a1" })).toEqual({ redeemed: false });

      expect(await hold("ONCE", "grace", "g1")).toEqual({ code: "ONCE", discount: 1000 });
      // Holding again for the same order answers the same use, and takes no other.
      expect(await hold("ONCE", "grace", "g1")).toEqual({ code: "ONCE", discount: 1000 });
      expect(await broker.call("coupons.redeem", { orderId: "g1" })).toEqual({ redeemed: true });
      expect(await broker.call("coupons.redeem", { orderId: "g1" })).toEqual({ redeemed: true });
      // Releasing a redeemed use (the saga's compensation) frees it as well.
      expect(await broker.call("coupons.release", { orderId: "g1" })).toEqual({ released: true });
      const [once] = await broker.call("coupons.list", {}, admin);
      expect(once).toMatchObject({ code: "ONCE", used: 0 });
    });
  });

  describe("coupons: administration", () => {
    it("lets admins list, create and update coupons, and nobody else", async () => {
      const created = await create({ code: "spring", kind: "percent", amount: 15, maxUses: 100 });
      expect(created).toEqual({
        code: "SPRING",
        kind: "percent",
        amount: 15,
        validFrom: null,
        validUntil: null,
        maxUses: 100,
        maxUsesPerUser: null,
        used: 0,
      });
      await expect(create({ code: "SPRING", kind: "fixed", amount: 1 })).rejects.toMatchObject({
        code: "COUPON_EXISTS",
        status: 409,
      });
      await expect(create({ code: "BIG", kind: "percent", amount: 101 })).rejects.toMatchObject({
        code: "VALIDATION_ERROR",
      });

      const until = "2030-01-01T00:00:00+02:00";
      const updated = await broker.call(
        "coupons.update",
        { code: "Spring", amount: 20, maxUses: null, validUntil: until },
        admin,
      );
      expect(updated).toEqual({
        ...created,
        amount: 20,
        maxUses: null,
        validUntil: "2029-12-31T22:00:00.000Z",
      });
      expect(await broker.call("coupons.list", {}, admin)).toEqual([updated]);
      await expect(
        broker.call("coupons.update", { code: "NOPE", amount: 1 }, admin),
      ).rejects.toMatchObject({ code: "COUPON_NOT_FOUND", status: 404 });

      await expect(broker.call("coupons.list", {}, userMeta("u1"))).rejects.toMatchObject({
        code: "FORBIDDEN",
      });
      await expect(broker.call("coupons.list")).rejects.toMatchObject({ status: 401 });
    });

    it("seeds the demo coupons into an empty table unless SHOP_SEED=0", async () => {
      process.env.SHOP_SEED = "1";
      const node = createTestBroker();
      try {
        node.createService(on(dialect, coupons));
        await node.start();
        const list = await node.call("coupons.list", {}, admin);
        expect(list.map((c) => c.code).sort()).toEqual(SEED_COUPONS.map((c) => c.code).sort());
        expect(await node.call("coupons.check", { code: "WELCOME10", subtotal: 5000 })).toEqual({
          code: "WELCOME10",
          discount: 500,
        });
      } finally {
        process.env.SHOP_SEED = "0";
        await node.stop();
      }
      expect(await broker.call("coupons.list", {}, admin)).toEqual([]);
    });
  });
});
