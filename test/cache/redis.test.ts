import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineService, ServiceBroker } from "../../src/index.js";
import { PrivateServer, requireServer, runWithout, SHARED, until } from "../harness/index.js";

// The Redis cacher with the real server: two nodes share one store (and one lock on a miss),
// a clean from an event handler on one node is seen by both, and an outage never fails a call.

beforeAll(() => requireServer("redis"));
afterAll(() => PrivateServer.stopAll());

const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

/** Handler runs of every node of one test, and a node maker bound to one namespace and prefix. */
function cluster(url: string = SHARED.redis.url) {
  const id = randomUUID().slice(0, 8);
  const runs: string[] = [];
  const cleaned: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const service = defineService({
    name: "products",
    actions: {
      get: {
        params: z.object({ id: z.number() }),
        cache: { ttl: "1m" },
        handler: async (ctx) => {
          runs.push(ctx.broker.nodeID);
          await new Promise((resolve) => setTimeout(resolve, 50));
          return { id: ctx.params.id, by: ctx.broker.nodeID };
        },
      },
    },
    events: {
      "products.changed": {
        handler: async (ctx) => {
          await ctx.cache.clean("products.*");
          cleaned.push(ctx.broker.nodeID);
        },
      },
    },
  });
  const node = async (name: string, transporter?: string) => {
    const logger = pino(
      { level: "info" },
      { write: (line: string) => logs.push(JSON.parse(line)) },
    );
    const broker = new ServiceBroker({
      nodeID: `${name}-${id}`,
      namespace: `cache-${id}`,
      transporter,
      logger,
      cacher: `${url}?prefix=test-${id}:`,
      heartbeatInterval: 200,
    });
    brokers.push(broker);
    broker.createService(service);
    await broker.start();
    return broker;
  };
  return { node, runs, cleaned, logs };
}

describe("redis cacher", () => {
  it("shares results between two nodes", async () => {
    const { node, runs } = await cluster();
    const a = await node("a");
    const b = await node("b");
    expect(await a.call("products.get", { id: 1 })).toEqual({ id: 1, by: a.nodeID });
    expect(await b.call("products.get", { id: 1 })).toEqual({ id: 1, by: a.nodeID });
    expect(runs).toEqual([a.nodeID]);
    expect(b.health().cache).toMatchObject({
      cacher: "redis",
      connected: true,
      hits: 1,
      misses: 0,
    });
  });

  it("runs the handler once for concurrent misses on two nodes (a lock in Redis)", async () => {
    const { node, runs } = await cluster();
    const a = await node("a");
    const b = await node("b");
    const calls = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).call("products.get", { id: 9 }),
    );
    const answers = await Promise.all(calls);
    expect(runs).toHaveLength(1);
    expect(new Set(answers.map((x) => JSON.stringify(x))).size).toBe(1);
  });

  it("cleans by pattern from an event handler, for both nodes", async () => {
    const { node, runs, cleaned } = await cluster();
    const a = await node("a", "memory://");
    const b = await node("b", "memory://");
    await a.waitForServices("products");
    await until(() => a.registry.remote.nodes.has(b.nodeID), { message: "b known to a" });
    await a.call("products.get", { id: 1 });
    await b.call("products.get", { id: 1 });
    expect(runs).toHaveLength(1);
    await a.emit("products.changed", {});
    await until(() => cleaned.length === 1, { message: "one node's handler cleaning" });
    await b.call("products.get", { id: 1 });
    expect(runs).toHaveLength(2);
    await a.call("products.get", { id: 1 });
    expect(runs).toHaveLength(2);
  });

  it("keeps answering while Redis is down, warns once, and caches again once it is back", async () => {
    const server = await PrivateServer.start("redis");
    const { node, runs, logs } = await cluster(server.url);
    const a = await node("a");
    await a.call("products.get", { id: 1 });
    await a.call("products.get", { id: 1 });
    expect(runs).toHaveLength(1);
    await server.kill();
    for (let i = 0; i < 3; i++) {
      expect(await a.call("products.get", { id: 1 })).toEqual({ id: 1, by: a.nodeID });
    }
    expect(runs).toHaveLength(4);
    expect(a.health().cache?.connected).toBe(false);
    const warnings = logs.filter((l) => String(l.msg).startsWith("Redis cache unavailable"));
    expect(warnings).toHaveLength(1);
    await server.restart();
    await until(() => a.health().cache?.connected, { timeout: 10_000, message: "the cache back" });
    await a.call("products.get", { id: 1 });
    await a.call("products.get", { id: 1 });
    expect(runs).toHaveLength(5);
  });

  it("starts while Redis is down, answers meanwhile, and caches once it is up", async () => {
    const server = await PrivateServer.create("redis");
    const { node, runs } = await cluster(server.url);
    const a = await node("a");
    expect(await a.call("products.get", { id: 2 })).toEqual({ id: 2, by: a.nodeID });
    expect(a.health().cache?.connected).toBe(false);
    await server.start();
    await until(() => a.health().cache?.connected, { timeout: 10_000, message: "the cache up" });
    await a.call("products.get", { id: 2 });
    await a.call("products.get", { id: 2 });
    expect(runs).toHaveLength(2);
  });

  it("fails to start without ioredis, with the npm install line", async () => {
    const out = await runWithout(
      ["ioredis"],
      `const { ServiceBroker } = await import("./src/index.ts");
       const broker = new ServiceBroker({ logger: false, cacher: "redis://127.0.0.1:6379" });
       const err = await broker.start().catch((e) => e);
       console.log(err.code, err.message.includes("npm install ioredis"));`,
    );
    expect(out.trim()).toBe("MISSING_DEPENDENCY true");
  }, 30_000);
});
