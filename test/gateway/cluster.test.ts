import { type CallOptions, defineService, ServiceBroker, ServiceNotFoundError } from "flotilla";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createGateway, type Gateway, type GatewayBroker } from "../../src/gateway/index.js";
import type { ActionInfo } from "../../src/registry/catalog.js";

/**
 * A stand-in for a node whose catalog lists actions served elsewhere: the gateway only sees
 * catalog entries (no definitions) and availability notifications, as with remote services.
 */
class FakeCluster implements GatewayBroker {
  readonly nodeID = "gw";
  readonly logger = pino({ enabled: false });
  entries: ActionInfo[] = [];
  calls: { name: string; params: unknown; opts: CallOptions | undefined }[] = [];
  #watchers = new Set<() => void>();
  readonly registry = {
    catalog: () => [...this.entries],
    watch: (fn: () => void) => {
      this.#watchers.add(fn);
      return () => this.#watchers.delete(fn);
    },
  };

  async call(name: string, params?: unknown, opts?: CallOptions): Promise<unknown> {
    this.calls.push({ name, params, opts });
    if (!this.entries.some((e) => e.name === name)) throw new ServiceNotFoundError(name);
    return { served: name };
  }

  /** A remote node announces (or withdraws) an action. */
  set(entries: ActionInfo[]): void {
    this.entries = entries;
    for (const fn of this.#watchers) fn();
  }
}

const remoteOrders: ActionInfo = {
  name: "orders.list",
  service: "orders",
  visibility: "published",
  rest: ["GET /orders"],
  params: { type: "object", properties: { page: { type: "integer" } } },
  result: undefined,
  nodeIDs: ["n2"],
};

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe("gateway routes follow the cluster", () => {
  it("serves routes of actions that only exist on other nodes", async () => {
    const cluster = new FakeCluster();
    cluster.set([remoteOrders]);
    gateway = await createGateway(cluster);
    const res = await gateway.app.inject({ url: "/orders?page=2" });
    expect(res.json()).toEqual({ served: "orders.list" });
    expect(cluster.calls[0]?.params).toEqual({ page: "2" });
  });

  it("answers 503 once the service leaves, 404 for paths it never had, 200 when it is back", async () => {
    const cluster = new FakeCluster();
    cluster.set([remoteOrders]);
    gateway = await createGateway(cluster);
    expect((await gateway.app.inject({ url: "/orders" })).statusCode).toBe(200);

    cluster.set([]);
    const gone = await gateway.app.inject({ url: "/orders" });
    expect(gone.statusCode).toBe(503);
    expect(gone.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(gone.json()).toMatchObject({ status: 503, code: "SERVICE_NOT_AVAILABLE" });
    expect(gateway.routes()).toEqual([
      { method: "GET", path: "/orders", action: "orders.list", source: "rest", available: false },
    ]);
    expect((await gateway.app.inject({ url: "/invoices" })).statusCode).toBe(404);

    cluster.set([remoteOrders]);
    expect((await gateway.app.inject({ url: "/orders" })).statusCode).toBe(200);
  });

  it("remembers a route that came and went between two requests", async () => {
    const cluster = new FakeCluster();
    gateway = await createGateway(cluster);
    const rebuilt = new Promise<void>((resolve) =>
      cluster.registry.watch(() => setImmediate(resolve)),
    );
    cluster.set([remoteOrders]);
    await rebuilt;
    cluster.set([]);
    expect((await gateway.app.inject({ url: "/orders" })).statusCode).toBe(503);
  });

  it("turns a vanished action of a known route into 503, not 404", async () => {
    const cluster = new FakeCluster();
    cluster.set([remoteOrders]);
    gateway = await createGateway(cluster);
    gateway.routes();
    // The node left, but the notification has not arrived yet: the call itself fails.
    cluster.entries = [];
    const res = await gateway.app.inject({ url: "/orders" });
    expect(res.statusCode).toBe(503);
  });

  it("ignores malformed routes from other nodes instead of failing", async () => {
    const cluster = new FakeCluster();
    cluster.set([
      { ...remoteOrders, rest: ["TELEPORT /orders", "GET /orders/:id/:id", "GET /ok"] },
    ]);
    gateway = await createGateway(cluster);
    expect(gateway.routes().map((r) => r.path)).toEqual(["/ok"]);
  });

  it("keeps the first action on a contested route and warns", async () => {
    const cluster = new FakeCluster();
    cluster.set([remoteOrders, { ...remoteOrders, name: "legacy.orders", service: "legacy" }]);
    gateway = await createGateway(cluster);
    expect(gateway.routes().map((r) => r.action)).toEqual(["orders.list"]);
  });
});

describe("gateway in a real cluster (memory transporter)", () => {
  const brokers: ServiceBroker[] = [];
  afterEach(async () => {
    await Promise.allSettled(brokers.splice(0).map((b) => b.stop()));
  });

  /** Resolves once `check` holds, re-checking on every registry change of `broker`. */
  function whenRegistry(broker: ServiceBroker, check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (check()) return resolve();
      const stop = broker.registry.watch(() => {
        if (!check()) return;
        stop();
        resolve();
      });
    });
  }

  it("routes to a service on another node, validates there, and answers 503 when it leaves", async () => {
    const transporter = `memory://gateway-${process.pid}-${Date.now()}`;
    const edge = new ServiceBroker({ nodeID: "edge", logger: false, transporter });
    const worker = new ServiceBroker({ nodeID: "worker", logger: false, transporter });
    brokers.push(edge, worker);
    worker.createService(
      defineService({
        name: "orders",
        actions: {
          get: {
            params: z.object({ id: z.coerce.number().int() }),
            rest: "GET /orders/:id",
            visibility: "published",
            handler: (ctx) => ({
              id: ctx.params.id,
              node: ctx.broker.nodeID,
              user: ctx.meta.user ?? null,
            }),
          },
        },
      }),
    );
    await Promise.all([edge.start(), worker.start()]);
    await edge.waitForServices("orders", 5_000);
    gateway = await createGateway(edge, { authenticate: () => ({ name: "ada" }) });

    const ok = await gateway.app.inject({ url: "/orders/12" });
    expect(ok.json()).toEqual({ id: 12, node: "worker", user: { name: "ada" } });
    const invalid = await gateway.app.inject({ url: "/orders/abc" });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json().errors[0]).toMatchObject({ path: ["id"], pointer: "/id" });
    expect(gateway.openapi().paths["/orders/{id}"]).toBeDefined();

    await worker.stop();
    await whenRegistry(edge, () => !edge.registry.isAvailable("orders"));
    const gone = await gateway.app.inject({ url: "/orders/12" });
    expect(gone.statusCode).toBe(503);
    expect(gone.json().code).toBe("SERVICE_NOT_AVAILABLE");
  });
});
