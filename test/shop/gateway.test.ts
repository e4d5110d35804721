// The shop's gateway over HTTP, in process: the services on one node (the mailbox's SMTP server on
// a free port), two gateway nodes in front of them (as two instances behind a load balancer would
// be), all on a memory bus, each service with its own in-memory SQLite database and the demo
// data. A buyer registers, logs in and checks out through HTTP, the order's status reaches the
// event streams on both gateways, and the confirmation lands in the mailbox.
import type { ServiceBroker } from "flotilla";
import { createMemoryTransporter, createTestBroker, MemoryBus } from "flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shopGateway, shopGatewayOf } from "../../examples/shop/gateway/service.js";
import coupons from "../../examples/shop/services/coupons/service.js";
import email from "../../examples/shop/services/email/service.js";
import mailbox from "../../examples/shop/services/mailbox/service.js";
import orders from "../../examples/shop/services/orders/service.js";
import products from "../../examples/shop/services/products/service.js";
import users from "../../examples/shop/services/users/service.js";
import { freePort, until } from "../harness/index.js";
import { openEvents } from "./fixtures/events.js";

const saved = { ...process.env };
const bus = new MemoryBus("shop-gateway-test");
let core: ServiceBroker;
let edges: ServiceBroker[] = [];

/** A node on the test's bus. */
const node = (nodeID: string) =>
  createTestBroker({ nodeID, transporter: createMemoryTransporter(bus) });
/** The address of the gateway on `broker`. */
const addressOf = (broker: ServiceBroker) => shopGatewayOf(broker)!.gateway.address!;

beforeAll(async () => {
  process.env.SHOP_SEED = "1"; // the demo data: products, coupons, the admin account
  process.env.SHOP_SMTP_PORT = String(await freePort());
  delete process.env.SMTP_URL; // the email service sends to the mailbox
  core = node("core");
  for (const service of [mailbox, users, products, coupons, orders, email]) {
    core.createService(service);
  }
  edges = [node("edge-1"), node("edge-2")];
  edges[0]!.createService(shopGateway({ port: 0, heartbeat: 50 }));
  edges[1]!.createService(shopGateway({ port: 0, loginLimit: { max: 3, window: 60_000 } }));
  await core.start();
  await Promise.all(edges.map((edge) => edge.start()));
  await Promise.all(
    edges.map((edge) => edge.waitForServices(["users", "products", "orders", "email"])),
  );
});

afterAll(async () => {
  for (const edge of edges) await edge.stop();
  await core?.stop();
  for (const name of ["SHOP_SEED", "SHOP_SMTP_PORT", "SMTP_URL"]) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

/** A JSON request to a gateway; resolves with the status and the parsed body. */
async function http(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> & unknown[] }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : JSON.parse(text) };
}

/** Logs in on `base` and returns the token. */
async function login(base: string, email: string, password: string): Promise<string> {
  const res = await http(base, "POST", "/login", { email, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.token as string;
}

describe("the shop's gateway", () => {
  it("registers, logs in, checks out, and streams the order's status to every gateway", async () => {
    const [one, two] = edges.map(addressOf) as [string, string];
    const ada = { email: "ada@shop.test", name: "Ada", password: "analytical-engine" };
    const registered = await http(one, "POST", "/register", ada);
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ email: ada.email, role: "customer" });
    const token = await login(one, ada.email, ada.password);
    expect((await http(two, "GET", "/me", undefined, token)).body).toMatchObject({ name: "Ada" });

    // One stream on each gateway: the status event is broadcast to every instance.
    const streams = [await openEvents(one, token), await openEvents(two, token)];
    try {
      const page = await http(one, "GET", "/products?q=mug&page=1&pageSize=5");
      expect(page.status).toBe(200);
      const mug = (page.body.items as { id: string; name: string; stock: number }[])[0]!;
      expect(mug.name).toBe("Enamel Mug");

      const checked = await http(
        one,
        "POST",
        "/coupons/check",
        { code: "welcome10", subtotal: 2400 },
        token,
      );
      expect(checked.body).toEqual({ code: "WELCOME10", discount: 240 });

      const order = await http(
        one,
        "POST",
        "/orders",
        { items: [{ productId: mug.id, qty: 2 }], coupon: "WELCOME10" },
        token,
      );
      expect(order.status).toBe(201);
      expect(order.body).toMatchObject({
        status: "confirmed",
        subtotal: 2400,
        discount: 240,
        total: 2160,
      });
      const orderId = order.body.id as string;
      for (const stream of streams) {
        const event = await until(() => stream.events.find((e) => e.data.orderId === orderId), {
          message: "the order's status event",
        });
        expect(event).toEqual({
          event: "status",
          data: { orderId, userId: registered.body.id, status: "confirmed" },
        });
      }
      const history = await http(two, "GET", "/orders", undefined, token);
      expect((history.body as unknown as { id: string }[]).map((o) => o.id)).toEqual([orderId]);

      // A rejected checkout streams its reason too.
      const poster = (await http(one, "GET", "/products?q=poster")).body.items as { id: string }[];
      const rejected = await http(
        one,
        "POST",
        "/orders",
        { items: [{ productId: poster[0]!.id, qty: 50 }] },
        token,
      );
      expect(rejected.body).toMatchObject({
        status: "rejected",
        reason: "Out of stock: Fleet Poster",
      });
      const event = await until(() =>
        streams[0]!.events.find((e) => e.data.orderId === rejected.body.id),
      );
      expect(event.data).toMatchObject({
        status: "rejected",
        reason: "Out of stock: Fleet Poster",
      });
      // The email service mailed both outcomes to the mailbox.
      const mails = await until(async () => {
        const box = await http(two, "GET", `/mailbox?to=${ada.email}`);
        return box.body.length === 2 && (box.body as unknown as { subject: string }[]);
      });
      expect(mails.map((m) => m.subject).sort()).toEqual(
        [
          `Your order ${orderId} is confirmed`,
          `Your order ${rejected.body.id} was not placed`,
        ].sort(),
      );
      // Heartbeats (every 50 ms on the first gateway) keep the stream alive.
      await until(() => streams[0]!.comments.includes("heartbeat"), { message: "a heartbeat" });
    } finally {
      for (const stream of streams) stream.close();
    }
    // Streams of clients that went away are dropped.
    await until(() => edges.every((edge) => shopGatewayOf(edge)!.events.size === 0));
  });

  it("refuses checkout and the event stream without a valid token", async () => {
    const base = addressOf(edges[0]!);
    const anonymous = await http(base, "POST", "/orders", { items: [{ productId: "x", qty: 1 }] });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe("UNAUTHORIZED");
    const forged = await http(base, "GET", "/orders", undefined, "not.a.token");
    expect(forged.status).toBe(401);
    for (const query of ["", "?token=", "?token=not.a.token"]) {
      const res = await fetch(`${base}/api/orders/events${query}`);
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
  });

  it("keeps admin routes to administrators: 401 anonymous, 403 for a customer", async () => {
    const base = addressOf(edges[0]!);
    const customer = await login(base, "demo@shop.test", "demo-pass-123");
    const admin = await login(base, "admin@shop.test", "admin-pass-123");
    const [mug] = (await http(base, "GET", "/products?q=mug")).body.items as { id: string }[];
    const change = { price: 1300 };
    expect((await http(base, "PATCH", `/products/${mug!.id}`, change)).status).toBe(401);
    const refused = await http(base, "PATCH", `/products/${mug!.id}`, change, customer);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("FORBIDDEN");
    expect((await http(base, "GET", "/coupons", undefined, customer)).status).toBe(403);
    const updated = await http(base, "PATCH", `/products/${mug!.id}`, change, admin);
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: mug!.id, price: 1300 });
    const list = await http(base, "GET", "/coupons", undefined, admin);
    expect((list.body as unknown as { code: string }[]).map((c) => c.code)).toContain("ONCE");
  });

  it("limits login attempts per client, and not the other routes", async () => {
    const base = addressOf(edges[1]!); // 3 logins a minute on this one
    const wrong = { email: "demo@shop.test", password: "not-the-password" };
    for (let i = 0; i < 3; i += 1) {
      expect((await http(base, "POST", "/login", wrong)).status).toBe(401);
    }
    const limited = await http(base, "POST", "/login", wrong);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect((await http(base, "GET", "/products")).status).toBe(200);
  });

  it("serves the storefront and says when every service is up", async () => {
    const base = addressOf(edges[0]!);
    const page = await fetch(`${base}/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("Flotilla shop");
    const script = await fetch(`${base}/app.js`);
    expect(script.headers.get("content-type")).toContain("javascript");
    const status = await http(base, "GET", "/status");
    expect(status.body).toEqual({
      ready: true,
      services: {
        mailbox: true,
        users: true,
        products: true,
        coupons: true,
        orders: true,
        email: true,
      },
    });
  });

  it("ends the event streams when the gateway stops", async () => {
    const extra = node("edge-3");
    extra.createService(shopGateway({ port: 0 }));
    await extra.start();
    const token = await login(addressOf(extra), "demo@shop.test", "demo-pass-123");
    const stream = await openEvents(addressOf(extra), token);
    await extra.stop();
    await until(() => stream.ended, { message: "the stream to end" });
  });
});
