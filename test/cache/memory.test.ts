import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  type ActionCacheOptions,
  CacheConfigError,
  type CacheKey,
  defineService,
  FlotillaError,
  ServiceBroker,
} from "../../src/index.js";
import { until } from "../harness/index.js";

// The action cache in memory, as a caller sees it: one handler run for many calls, TTL, keys
// from params and meta, errors and unserializable results never cached, counts in health and
// metrics. Each test checks that the handler runs again where the cache is off, so none passes
// with the cache doing nothing.

const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

interface Options {
  cacher?: false | "memory";
  cache?: ActionCacheOptions<{ id: number; verbose?: boolean }> | boolean;
  delay?: number;
  fail?: () => boolean;
  result?: (id: number) => unknown;
}

async function products(o: Options = {}) {
  const runs: number[] = [];
  const broker = new ServiceBroker({ logger: false, cacher: o.cacher ?? "memory", metrics: true });
  brokers.push(broker);
  broker.createService(
    defineService({
      name: "products",
      actions: {
        get: {
          params: z.object({ id: z.coerce.number(), verbose: z.boolean().optional() }),
          cache: o.cache ?? { ttl: "1m" },
          handler: async (ctx) => {
            runs.push(ctx.params.id);
            if (o.delay) await new Promise((resolve) => setTimeout(resolve, o.delay));
            if (o.fail?.()) throw new FlotillaError("no stock service", "UPSTREAM_DOWN", 503);
            return o.result
              ? o.result(ctx.params.id)
              : { id: ctx.params.id, name: `p${ctx.params.id}` };
          },
        },
      },
    }),
  );
  await broker.start();
  return { broker, runs };
}

describe("action cache in memory", () => {
  it("answers repeated calls from the cache, with a fresh copy each time", async () => {
    const { broker, runs } = await products();
    const first = (await broker.call("products.get", { id: 1 })) as { name: string };
    first.name = "changed by the caller";
    const second = await broker.call("products.get", { id: "1" }); // the same after validation
    expect(second).toEqual({ id: 1, name: "p1" });
    expect(runs).toEqual([1]);
    await broker.call("products.get", { id: 2 });
    expect(runs).toEqual([1, 2]);
  });

  it("caches nothing with cacher: false, or for actions without cache", async () => {
    const off = await products({ cacher: false });
    await off.broker.call("products.get", { id: 1 });
    await off.broker.call("products.get", { id: 1 });
    expect(off.runs).toEqual([1, 1]);
    expect(off.broker.health().cache).toBeUndefined();
    const plain = await products({ cache: false });
    await plain.broker.call("products.get", { id: 1 });
    await plain.broker.call("products.get", { id: 1 });
    expect(plain.runs).toEqual([1, 1]);
  });

  it("runs the handler once for N concurrent misses of one key", async () => {
    const { broker, runs } = await products({ delay: 30 });
    const answers = await Promise.all(
      Array.from({ length: 25 }, () => broker.call("products.get", { id: 7 })),
    );
    expect(runs).toEqual([7]);
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(
      new Set([JSON.stringify({ id: 7, name: "p7" })]),
    );
    // Without the lock, every one of them runs it.
    const unlocked = await products({ delay: 30, cache: { lock: false } });
    await Promise.all(
      Array.from({ length: 5 }, () => unlocked.broker.call("products.get", { id: 7 })),
    );
    expect(unlocked.runs).toHaveLength(5);
  });

  it("forgets a result once its TTL has passed", async () => {
    const { broker, runs } = await products({ cache: { ttl: 150 } });
    await broker.call("products.get", { id: 3 });
    await broker.call("products.get", { id: 3 });
    expect(runs).toEqual([3]);
    await until(
      async () => {
        await broker.call("products.get", { id: 3 });
        return runs.length === 2;
      },
      { timeout: 3_000, interval: 50, message: "the handler to run again after the TTL" },
    );
  });

  it("never caches an error: every waiting caller gets it, the next call runs again", async () => {
    let failing = true;
    const { broker, runs } = await products({ delay: 20, fail: () => failing });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 3 }, () => broker.call("products.get", { id: 4 })),
    );
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect((outcomes[0] as PromiseRejectedResult).reason).toMatchObject({ code: "UPSTREAM_DOWN" });
    expect(runs).toEqual([4]);
    failing = false;
    expect(await broker.call("products.get", { id: 4 })).toEqual({ id: 4, name: "p4" });
    expect(runs).toEqual([4, 4]);
    expect(broker.health().cache?.sets).toBe(1);
  });

  it("keys by the chosen params and meta fields only", async () => {
    const { broker, runs } = await products({ cache: { keys: ["id", "#tenant"] } });
    await broker.call("products.get", { id: 1, verbose: true }, { meta: { tenant: "a" } });
    await broker.call(
      "products.get",
      { id: 1, verbose: false },
      { meta: { tenant: "a", user: 9 } },
    );
    expect(runs).toEqual([1]);
    await broker.call("products.get", { id: 1 }, { meta: { tenant: "b" } });
    await broker.call("products.get", { id: 1 });
    expect(runs).toEqual([1, 1, 1]);
    // By default every param is part of the key, and no meta.
    const all = await products();
    await all.broker.call("products.get", { id: 1, verbose: true }, { meta: { tenant: "a" } });
    await all.broker.call("products.get", { id: 1, verbose: true }, { meta: { tenant: "b" } });
    await all.broker.call("products.get", { id: 1, verbose: false });
    expect(all.runs).toEqual([1, 1]);
  });

  it("answers a result JSON cannot carry without caching it, and counts it", async () => {
    const { broker, runs } = await products({ result: (id) => new Map([[id, "x"]]) });
    expect(await broker.call("products.get", { id: 5 })).toBeInstanceOf(Map);
    expect(await broker.call("products.get", { id: 5 })).toBeInstanceOf(Map);
    expect(runs).toEqual([5, 5]);
    expect(broker.health().cache).toMatchObject({ uncacheable: 2, sets: 0 });
  });

  it("cleans by pattern from an event handler (ctx.cache) and from broker.cache", async () => {
    const { broker, runs } = await products();
    const cleaned: number[] = [];
    broker.createService(
      defineService({
        name: "catalogue",
        events: {
          "products.changed": {
            handler: async (ctx) => cleaned.push(await ctx.cache.clean("products.*")),
          },
        },
      }),
    );
    await broker.call("products.get", { id: 1 });
    await broker.call("products.get", { id: 2 });
    await broker.emit("products.changed", {});
    await until(() => cleaned.length === 1, { message: "the event handler's clean" });
    expect(cleaned).toEqual([2]);
    await broker.call("products.get", { id: 1 });
    expect(runs).toEqual([1, 2, 1]);
    expect(await broker.cache.clean("orders.*")).toBe(0);
    expect(await broker.cache.clean("**")).toBe(1);
  });

  it("reports hits, misses, sets and cleans in health() and in the metrics", async () => {
    const { broker } = await products();
    await broker.call("products.get", { id: 1 });
    await broker.call("products.get", { id: 1 });
    await broker.call("products.get", { id: 1 });
    await broker.cache.clean("products.get");
    expect(broker.health().cache).toMatchObject({
      cacher: "memory",
      connected: true,
      hits: 2,
      misses: 1,
      sets: 1,
      cleans: 1,
      removed: 1,
      entries: 0,
      actions: { "products.get": { hits: 2, misses: 1, sets: 1, uncacheable: 0 } },
    });
    const text = (await broker.metrics?.text()) ?? "";
    expect(text).toContain('flotilla_cache_hits_total{action="products.get"} 2');
    expect(text).toContain('flotilla_cache_misses_total{action="products.get"} 1');
    expect(text).toContain('flotilla_cache_sets_total{action="products.get"} 1');
    expect(text).toContain("flotilla_cache_cleans_total 1");
    expect(text).toContain('flotilla_cache_connected{cacher="memory"} 1');
  });

  it("refuses a bad cacher or a bad cache option when it is set up", async () => {
    expect(() => new ServiceBroker({ logger: false, cacher: "memcached://x" })).toThrow(
      expect.objectContaining({ code: "INVALID_CACHER" }),
    );
    expect(() => new ServiceBroker({ logger: false, cacher: { type: "memory", max: 0 } })).toThrow(
      CacheConfigError,
    );
    const broker = new ServiceBroker({ logger: false });
    brokers.push(broker);
    const bad = defineService({
      name: "bad",
      actions: { get: { cache: { ttl: "soon" }, handler: () => 1 } },
    });
    expect(() => broker.createService(bad)).toThrow(
      expect.objectContaining({ code: "INVALID_CACHE_OPTIONS" }),
    );
  });

  it("types keys against the action's params", () => {
    type P = { id: number; filter: { category: string } };
    expectTypeOf<"id" | "filter.category" | "#tenant">().toExtend<CacheKey<P>>();
    // @ts-expect-error: not a param of P
    const wrong: CacheKey<P> = "nope";
    expect(wrong).toBe("nope");
    defineService({
      name: "typed",
      actions: {
        get: {
          params: z.object({ id: z.number() }),
          // @ts-expect-error: 'slug' is not a param of this action
          cache: { keys: ["slug"] },
          handler: (ctx) => ctx.params.id,
        },
      },
    });
  });
});
