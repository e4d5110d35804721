import {
  BrokerStoppedError,
  defineService,
  FlotillaError,
  ServiceNotFoundError,
  ServiceSchemaError,
  WaitTimeoutError,
} from "flotilla";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { deferred, startBroker, testBroker } from "../helpers.js";

const math = defineService({
  name: "math",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      handler: (ctx) => ctx.params.a + ctx.params.b,
    },
    twice: {
      params: z.object({ n: z.number() }),
      handler: (ctx) => ctx.call<number>("math.add", { a: ctx.params.n, b: ctx.params.n }),
    },
    fail: {
      handler() {
        throw new FlotillaError("Out of stock", "OUT_OF_STOCK", 409, { data: { sku: "A-1" } });
      },
    },
    secret: { visibility: "private", handler: () => "hidden" },
    peek: { handler: (ctx) => ctx.call("math.secret") },
  },
});

describe("calling actions", () => {
  it("returns the handler's result, sync or async, and nested calls work", async () => {
    const broker = await startBroker(math);
    await expect(broker.call("math.add", { a: 2, b: 3 })).resolves.toBe(5);
    await expect(broker.call("math.twice", { n: 4 })).resolves.toBe(8);
  });

  it("passes a handler's error to the caller unchanged", async () => {
    const broker = await startBroker(math);
    const err = await broker.call("math.fail").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect(err).toMatchObject({ code: "OUT_OF_STOCK", status: 409, data: { sku: "A-1" } });
  });

  it("rejects an unknown action with SERVICE_NOT_FOUND, as a rejected promise", async () => {
    const broker = testBroker();
    await broker.start();
    const pending = broker.call("nope.nothing");
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).rejects.toBeInstanceOf(ServiceNotFoundError);
    await expect(pending).rejects.toMatchObject({ code: "SERVICE_NOT_FOUND", status: 404 });
  });

  it("calls a versioned service under its prefixed name", async () => {
    const broker = await startBroker([
      defineService({ name: "users", version: 2, actions: { get: { handler: () => "v2" } } }),
      defineService({ name: "users", actions: { get: { handler: () => "v1" } } }),
    ]);
    await expect(broker.call("v2.users.get")).resolves.toBe("v2");
    await expect(broker.call("users.get")).resolves.toBe("v1");
  });

  it("hides private actions from other callers but not from the service itself", async () => {
    const broker = await startBroker(math);
    await expect(broker.call("math.secret")).rejects.toBeInstanceOf(ServiceNotFoundError);
    await expect(broker.call("math.peek")).resolves.toBe("hidden");
  });

  it("refuses calls and emits once stopped", async () => {
    const broker = await startBroker(math);
    await broker.stop();
    await expect(broker.call("math.add", { a: 1, b: 1 })).rejects.toBeInstanceOf(
      BrokerStoppedError,
    );
    await expect(broker.emit("x.y", {})).rejects.toMatchObject({ code: "BROKER_STOPPED" });
  });
});

describe("service definitions", () => {
  it("rejects a duplicate service name on one node", () => {
    const broker = testBroker();
    broker.createService(math);
    expect(() => broker.createService(math)).toThrow(ServiceSchemaError);
  });

  it("rejects an action without a handler, naming it", () => {
    const broker = testBroker();
    const bad = { name: "bad", actions: { broken: { params: undefined } } };
    expect(() => broker.createService(bad as never)).toThrow(/Action 'bad.broken' needs a handler/);
  });

  it("rejects an invalid visibility and an invalid name", () => {
    const broker = testBroker();
    const vis = { name: "v", actions: { a: { visibility: "world", handler: () => 1 } } };
    expect(() => broker.createService(vis as never)).toThrow(/visibility 'world'/);
    expect(() => broker.createService({ name: "has space" } as never)).toThrow(ServiceSchemaError);
  });

  it("gives lifecycle hooks the service with its settings and logger", async () => {
    const seen: string[] = [];
    const broker = testBroker();
    broker.createService(
      defineService({
        name: "greeter",
        settings: { greeting: "hello" },
        created: (svc) => void seen.push(`created ${svc.settings.greeting}`),
        started: (svc) => void seen.push(`started ${svc.fullName}`),
        stopped: () => void seen.push("stopped"),
      }),
    );
    expect(seen).toEqual(["created hello"]);
    await broker.start();
    await broker.stop();
    expect(seen).toEqual(["created hello", "started greeter", "stopped"]);
  });
});

describe("lifecycle", () => {
  it("starts services after their dependencies and stops them in reverse", async () => {
    const order: string[] = [];
    const svc = (name: string, dependencies: string[] = []) =>
      defineService({
        name,
        dependencies,
        async started() {
          await new Promise((r) => setImmediate(r));
          order.push(`start ${name}`);
        },
        stopped: () => void order.push(`stop ${name}`),
      });
    const broker = testBroker();
    broker.createService(svc("orders", ["users", "products"]));
    broker.createService(svc("products", ["users"]));
    broker.createService(svc("users"));
    await broker.start();
    expect(order).toEqual(["start users", "start products", "start orders"]);
    await broker.stop();
    expect(order.slice(3)).toEqual(["stop orders", "stop products", "stop users"]);
  });

  it("refuses a dependency cycle with the cycle in the message", async () => {
    const broker = testBroker();
    broker.createService(defineService({ name: "a", dependencies: ["b"] }));
    broker.createService(defineService({ name: "b", dependencies: ["a"] }));
    await expect(broker.start()).rejects.toThrow(/cycle: a -> b -> a/);
  });

  it("fails start when a dependency never appears, and stops what had started", async () => {
    const stopped: string[] = [];
    const broker = testBroker({ dependencyTimeout: 50 });
    broker.createService(defineService({ name: "ok", stopped: () => void stopped.push("ok") }));
    broker.createService(defineService({ name: "needy", dependencies: ["ghost"] }));
    await expect(broker.start()).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(stopped).toEqual(["ok"]);
    expect(broker.state).toBe("stopped");
  });

  it("fails start when a started hook throws", async () => {
    const broker = testBroker();
    broker.createService(
      defineService({
        name: "boom",
        started() {
          throw new Error("no database");
        },
      }),
    );
    await expect(broker.start()).rejects.toThrow("no database");
  });

  it("waitForServices resolves when a service created later starts", async () => {
    const broker = testBroker();
    await broker.start();
    const ready = broker.waitForServices(["late"], 1000);
    broker.createService(defineService({ name: "late" }));
    await expect(ready).resolves.toBeUndefined();
  });

  it("waitForServices names the missing services when it times out", async () => {
    const broker = testBroker();
    await broker.start();
    await expect(
      broker.waitForServices(["ghost", { name: "spirit", version: 2 }], 20),
    ).rejects.toThrow(/ghost, v2.spirit/);
  });

  it("a service created after start is started at once", async () => {
    const broker = testBroker();
    await broker.start();
    const started = deferred();
    broker.createService(defineService({ name: "later", started: () => started.resolve() }));
    await started.promise;
  });
});
