// The shop's fault scenarios (issue 15, part 5) on real processes: every service a process of its
// own over tcp:// with its SQLite file (test/shop/faults/shop.ts), checkouts driven from a client
// node in the test. The email process SIGKILLed while an order is placed (on tcp:// and on
// nats://; the mail arrives once either way), the products process SIGKILLed in the
// middle of a checkout, 50 buyers racing for the last 10 items, and 20 buyers racing for a coupon
// that can be used once.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import type {} from "../../examples/shop/services/coupons/service.js";
import type {} from "../../examples/shop/services/mailbox/service.js";
import type { Order } from "../../examples/shop/services/orders/order.js";
import type {} from "../../examples/shop/services/orders/service.js";
import type { Product } from "../../examples/shop/services/products/service.js";
import { deleteNatsNamespaces } from "../events/durable/servers.js";
import { requireServer, SHARED, until } from "../harness/index.js";
import { FaultShop } from "./faults/shop.js";

const root = mkdtempSync(join(tmpdir(), "flotilla-shop-faults-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A shop of the test's own: a new namespace, data and rendezvous folders, SMTP port. */
async function open(tag: string, options: Parameters<typeof FaultShop.start>[2] = {}) {
  const namespace = `shop-faults-${tag}-${process.pid}-${Date.now().toString(36)}`;
  const shop = await FaultShop.start(root, namespace, options);
  onTestFinished(async () => {
    await shop.stop();
    // What durable events left on the shared JetStream.
    if (options.transporter?.startsWith("nats:")) await deleteNatsNamespaces([namespace]);
  });
  return shop;
}

const TCP = "tcp://?udp=false";

type User = { sub: string; email: string; name: string; role: "customer" | "admin" };
const admin: User = { sub: "u-admin", email: "admin@shop.test", name: "Admin", role: "admin" };
/** Buyer `n`: the claims the gateway's jwtAuth would put in `meta.user`. */
const buyer = (n: number): User => ({
  sub: `u-${n}`,
  email: `buyer-${n}@shop.test`,
  name: `Buyer ${n}`,
  role: "customer",
});
const as = (user: User) => ({ meta: { user } });

function addProduct(shop: FaultShop, sku: string, stock: number): Promise<Product> {
  const product = { sku, name: `Item ${sku}`, description: "", price: 1_000, stock };
  return shop.client.call("products.create", product, as(admin));
}

const stockOf = async (shop: FaultShop, p: Product) =>
  (await shop.client.call("products.get", { id: p.id })).stock;

function checkout(shop: FaultShop, user: User, p: Product, coupon?: string): Promise<Order> {
  const items = [{ productId: p.id, qty: 1 }];
  return shop.client.call("orders.checkout", coupon ? { items, coupon } : { items }, as(user));
}

/** The mails in the mailbox about order `id`. */
async function mailsOf(shop: FaultShop, user: User, id: string) {
  const mails = await shop.client.call("mailbox.list", { to: user.email });
  return mails.filter((m) => m.subject.includes(id));
}

/** Orders by status, from the orders service's own file. */
const statuses = (shop: FaultShop) =>
  Object.fromEntries(
    shop
      .rows<{ status: string; n: number }>(
        "orders",
        "select status, count(*) as n from orders group by status",
      )
      .map((r) => [r.status, r.n]),
  );

const WHILE_DOWN = "the mail of the order placed while email was down";

/**
 * Scenario 1: email killed as an order is placed (`during`), before (`before`), or while its
 * handler holds the order's event (`holding`: the shop runs holding-email.ts), then restarted;
 * the order's mails counted.
 */
async function emailKilledDuringCheckout(
  shop: FaultShop,
  when: "during" | "before" | "holding" = "during",
): Promise<void> {
  const mug = await addProduct(shop, "MUG", 10);
  const ada = buyer(1);

  let first: Order;
  if (when === "before") {
    // Killed before the order is placed, and seen gone by the cluster.
    await shop.kill("email");
    await until(() => !shop.client.registry.remote.hasService("email"), { message: "email gone" });
    first = await checkout(shop, ada, mug);
  } else if (when === "holding") {
    first = await checkout(shop, ada, mug);
    const email = shop.node("email");
    await until(() => email.logs.includes(`mailing ${first.id}`), {
      timeout: 10_000,
      message: "email's handler holding the order's event",
    });
    await shop.kill("email");
  } else {
    const placing = checkout(shop, ada, mug);
    await shop.kill("email");
    first = await placing;
  }
  expect(first).toMatchObject({ status: "confirmed", userId: ada.sub, total: 1_000 });

  await shop.restart("email");
  const mailOf = (id: string, what: string) =>
    until(
      async () => {
        const mails = await mailsOf(shop, ada, id);
        return mails.length > 0 && mails;
      },
      { timeout: 15_000, message: what },
    );
  const [mail] = await mailOf(first.id, WHILE_DOWN);
  expect(mail).toMatchObject({ subject: `Your order ${first.id} is confirmed`, to: ada.email });

  // A second order's mail: by the time it is there, a second copy of the first would be too.
  const second = await checkout(shop, ada, mug);
  expect(second.status).toBe("confirmed");
  await mailOf(second.id, "the mail of the order placed after the restart");
  expect(await mailsOf(shop, ada, first.id)).toHaveLength(1);
  expect(await stockOf(shop, mug)).toBe(8);
  expect(statuses(shop)).toEqual({ confirmed: 2 });
}

describe("shop faults on real processes", () => {
  // The README's promise: the mail of an order placed while email was down goes out once email is
  // back. On nats:// JetStream keeps the event for email's consumer group.
  it("email SIGKILLed during checkout (nats://): the order is confirmed, its mail arrives once after the restart", async () => {
    await requireServer("nats");
    await emailKilledDuringCheckout(await open("email-nats", { transporter: SHARED.nats.url }));
  }, 90_000);

  // On tcp:// nodes keep durable events in memory only. While no instance of `email` is reachable
  // the relay's publish is refused and the row waits in the outbox, so an order placed while email
  // is known to be down gets its mail once email is back.
  it("email down before checkout (tcp://): the order is confirmed, its mail arrives once after the restart", async () => {
    await emailKilledDuringCheckout(await open("email-tcp-down", { transporter: TCP }), "before");
  }, 90_000);

  // On tcp:// the relay's durable emit is done only once email's handler settled the event
  // (acknowledged deliveries): a process killed while it holds the event fails the emit, the row
  // stays in the outbox, and it is sent again once email is back; the mailbox drops a copy with
  // the same Message-ID, should the first attempt have reached the SMTP server.
  it("email SIGKILLed during checkout (tcp://): the order is confirmed, its mail arrives once after the restart", async () => {
    await emailKilledDuringCheckout(await open("email-tcp-kill", { transporter: TCP }));
  }, 90_000);

  // The same, with the kill at the worst moment every time: email's handler has the event.
  it("email SIGKILLed while it holds the order's event (tcp://): its mail arrives once after the restart", async () => {
    const shop = await open("email-tcp-held", { transporter: TCP, holdingEmail: true });
    await emailKilledDuringCheckout(shop, "holding");
  }, 90_000);

  it("products SIGKILLed in the middle of a checkout: rejected with a reason, nothing left pending or held", async () => {
    const ttl = 1_500;
    const shop = await open("products", { pausedProducts: true });
    const mug = await addProduct(shop, "MUG", 5);
    const ada = buyer(1);
    const products = shop.node("products");

    // The stock is reserved, then `products.confirm` hangs until the process is killed.
    const placing = checkout(shop, ada, mug);
    await until(() => products.logs.some((l) => l.startsWith("confirming ")), {
      timeout: 10_000,
      message: "the checkout to reach products.confirm",
    });
    await shop.kill("products");
    const order = await placing;
    expect(order).toMatchObject({
      status: "rejected",
      reason: "Products are unavailable, try again",
      items: [{ productId: mug.id, qty: 1, name: "Item MUG", price: 1_000 }],
    });
    expect(statuses(shop)).toEqual({ rejected: 1 });
    // The release was owed while products was down.
    const [row] = shop.rows<{ compensated: number }>(
      "orders",
      "select compensated from orders where id = ?",
      order.id,
    );
    expect(row?.compensated).toBe(0);
    // Products' file: the unit is still held for the order.
    expect(
      shop.rows("products", "select status from reservations where order_id = ?", order.id),
    ).toEqual([{ status: "held" }]);

    await shop.restart("products", { SHOP_RESERVATION_TTL: String(ttl) });
    // Given back: by the expiry timer or the orders recovery timer's retried release.
    await until(async () => (await stockOf(shop, mug)) === 5, {
      timeout: 15_000,
      message: "the reserved unit back in stock",
    });
    expect(
      shop.rows("products", "select status from reservations where order_id = ?", order.id),
    ).toEqual([{ status: "released" }]);
    // The orders recovery timer retries the owed release (2 × stepTimeout after the rejection).
    await until(
      () =>
        shop.rows<{ compensated: number }>(
          "orders",
          "select compensated from orders where id = ?",
          order.id,
        )[0]?.compensated === 1,
      { timeout: 20_000, message: "the order's compensation retried" },
    );
    expect(await stockOf(shop, mug)).toBe(5);
    expect(statuses(shop)).toEqual({ rejected: 1 });
    expect(await shop.client.call("orders.list", {}, as(ada))).toMatchObject([
      { id: order.id, status: "rejected" },
    ]);
  }, 90_000);

  it("50 concurrent checkouts for the last 10 items: 10 confirmed, 40 out of stock, never below 0", async () => {
    const shop = await open("stock");
    const mug = await addProduct(shop, "MUG", 10);
    let lowest = 10;
    let racing = true;
    const watching = (async () => {
      while (racing) lowest = Math.min(lowest, await stockOf(shop, mug));
    })();

    const orders = await Promise.all(
      Array.from({ length: 50 }, (_, i) => checkout(shop, buyer(i + 1), mug)),
    );
    racing = false;
    await watching;

    const confirmed = orders.filter((o) => o.status === "confirmed");
    const rejected = orders.filter((o) => o.status === "rejected");
    expect(confirmed).toHaveLength(10);
    expect(rejected).toHaveLength(40);
    expect(new Set(rejected.map((o) => o.reason))).toEqual(new Set(["Out of stock: Item MUG"]));
    expect(await stockOf(shop, mug)).toBe(0);
    expect(lowest).toBeGreaterThanOrEqual(0);
    expect(statuses(shop)).toEqual({ confirmed: 10, rejected: 40 });
    const [sold] = shop.rows<{ qty: number }>(
      "products",
      "select sum(qty) as qty from reservations where status = 'confirmed'",
    );
    expect(sold?.qty).toBe(10);
  }, 90_000);

  it("a coupon with maxUses 1 raced by 20 buyers: one order carries it, 19 are rejected as used up", async () => {
    const shop = await open("coupon");
    const mug = await addProduct(shop, "MUG", 100);
    await shop.client.call(
      "coupons.create",
      { code: "ONCE", kind: "percent", amount: 50, maxUses: 1 },
      as(admin),
    );

    const orders = await Promise.all(
      Array.from({ length: 20 }, (_, i) => checkout(shop, buyer(i + 1), mug, "once")),
    );

    const confirmed = orders.filter((o) => o.status === "confirmed");
    expect(confirmed).toHaveLength(1);
    expect(confirmed[0]).toMatchObject({ coupon: "ONCE", subtotal: 1_000, discount: 500 });
    const rejected = orders.filter((o) => o.status === "rejected");
    expect(rejected).toHaveLength(19);
    expect(new Set(rejected.map((o) => o.reason))).toEqual(new Set(["Coupon ONCE is used up"]));
    const [coupon] = await shop.client.call("coupons.list", {}, as(admin));
    expect(coupon).toMatchObject({ code: "ONCE", maxUses: 1, used: 1 });
    // The rejected orders' reserved units were given back.
    expect(await stockOf(shop, mug)).toBe(99);
    expect(statuses(shop)).toEqual({ confirmed: 1, rejected: 19 });
  }, 90_000);
});
