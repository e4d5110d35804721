import type { Context, ServiceBroker } from "flotilla";
import { defineService, MaxCallLevelError, RequestTimeoutError } from "flotilla";
import { createTestCluster, waitForEvent } from "flotilla/testing";
import { describe, expect, it } from "vitest";
import { deferred, startBroker, testBroker } from "../helpers.js";

/** A service whose `inner` action reports what its context looked like. */
const probe = defineService({
  name: "probe",
  actions: {
    inner: {
      handler: (ctx) => ({
        meta: { ...ctx.meta },
        requestID: ctx.requestID,
        parentID: ctx.parentID,
        level: ctx.level,
        caller: ctx.caller,
        remaining: ctx.remaining,
      }),
    },
    outer: {
      async handler(ctx) {
        ctx.meta.seenByOuter = true;
        const inner = await ctx.call("probe.inner", {}, { meta: { added: 1 } });
        return { id: ctx.id, requestID: ctx.requestID, inner };
      },
    },
    loop: { handler: (ctx): Promise<unknown> => ctx.call("probe.loop") },
    slow: { handler: () => new Promise((r) => setTimeout(() => r("late"), 200)) },
    budget: {
      timeout: 1000,
      handler: (ctx) => ctx.call("probe.inner"),
    },
  },
});

type Inner = {
  meta: Record<string, unknown>;
  requestID: string;
  parentID?: string;
  level: number;
  caller?: string;
  remaining: number;
};

describe("context", () => {
  it("carries meta (merged), requestID, parentID, level and caller down the chain", async () => {
    const broker = await startBroker(probe);
    const out = await broker.call<{ id: string; requestID: string; inner: Inner }>(
      "probe.outer",
      {},
      { meta: { tenant: "acme" }, requestID: "req-1" },
    );
    expect(out.requestID).toBe("req-1");
    expect(out.inner.requestID).toBe("req-1");
    expect(out.inner.parentID).toBe(out.id);
    expect(out.inner.level).toBe(2);
    expect(out.inner.caller).toBe("probe");
    expect(out.inner.meta).toEqual({ tenant: "acme", seenByOuter: true, added: 1 });
  });

  it("generates a requestID at the edge when none is given", async () => {
    const broker = await startBroker(probe);
    const a = await broker.call<Inner>("probe.inner");
    const b = await broker.call<Inner>("probe.inner");
    expect(a.requestID).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.requestID).not.toBe(b.requestID);
    expect(a.level).toBe(1);
    expect(a.parentID).toBeUndefined();
  });

  it("stops a call loop at maxCallLevel", async () => {
    const broker = await startBroker(probe, { maxCallLevel: 10 });
    await expect(broker.call("probe.loop")).rejects.toBeInstanceOf(MaxCallLevelError);
  });

  it("fails a call that exceeds an explicit timeout with a retryable REQUEST_TIMEOUT", async () => {
    const broker = await startBroker(probe);
    const err = await broker.call("probe.slow", {}, { timeout: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect(err).toMatchObject({ code: "REQUEST_TIMEOUT", status: 504, retryable: true });
  });

  it("gives a nested call only what is left of the parent's budget", async () => {
    const broker = await startBroker(probe);
    const inner = await broker.call<Inner>("probe.budget");
    expect(inner.remaining).toBeGreaterThan(0);
    expect(inner.remaining).toBeLessThanOrEqual(1000);
    const free = await broker.call<Inner>("probe.inner");
    expect(free.remaining).toBe(Number.POSITIVE_INFINITY);
  });

  it("does not start a nested call whose deadline has passed", async () => {
    const broker = testBroker();
    let innerRan = false;
    const nested = deferred<unknown>();
    broker.createService(
      defineService({
        name: "late",
        actions: {
          outer: {
            async handler(ctx: Context) {
              await new Promise((r) => setTimeout(r, 40)); // a slow step that uses up the budget
              return ctx.call("late.inner").catch((err: unknown) => nested.resolve(err));
            },
          },
          inner: {
            handler() {
              innerRan = true;
            },
          },
        },
      }),
    );
    await broker.start();
    await expect(broker.call("late.outer", {}, { timeout: 20 })).rejects.toBeInstanceOf(
      RequestTimeoutError,
    );
    expect(await nested.promise).toBeInstanceOf(RequestTimeoutError);
    expect(innerRan).toBe(false);
  });
});

describe("headers down the chain", () => {
  type Seen = Record<string, string> | undefined;
  /** a → b → c, b also emits `chain.passed`; each reports the headers it saw. */
  const chain = [
    defineService({
      name: "a",
      dependencies: ["b"],
      actions: {
        run: {
          async handler(ctx): Promise<{ a: Seen; b: Seen; c: Seen }> {
            const override = ctx.params.override === true;
            const rest = (await ctx.call(
              "b.run",
              {},
              override ? { headers: { "x-tenant": "beta" } } : {},
            )) as { b: Seen; c: Seen };
            return { a: ctx.headers, ...rest };
          },
        },
      },
    }),
    defineService({
      name: "b",
      dependencies: ["c", "watcher"],
      actions: {
        run: {
          async handler(ctx) {
            await ctx.emit("chain.passed", {});
            return { b: ctx.headers, c: await ctx.call("c.run") };
          },
        },
      },
    }),
    defineService({ name: "c", actions: { run: { handler: (ctx) => ctx.headers } } }),
    defineService({ name: "watcher", events: { "chain.passed": { handler() {} } } }),
  ];
  const incoming = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" };

  async function runChain(
    call: ServiceBroker,
    watcherNode: ServiceBroker,
    override: boolean,
  ): Promise<{ a: Seen; b: Seen; c: Seen; event: Seen }> {
    const passed = waitForEvent(watcherNode, "chain.passed");
    const out = (await call.call(
      "a.run",
      { override },
      { headers: { ...incoming, "x-tenant": "acme" } },
    )) as { a: Seen; b: Seen; c: Seen };
    return { ...out, event: (await passed).ctx.headers };
  }

  const expected = (tenant: string) => ({ ...incoming, "x-tenant": tenant });

  it("are inherited by local calls and events, and a per-call header wins", async () => {
    const broker = await startBroker(chain);
    const plain = await runChain(broker, broker, false);
    expect(plain).toEqual({
      a: expected("acme"),
      b: expected("acme"),
      c: expected("acme"),
      event: expected("acme"),
    });
    const overridden = await runChain(broker, broker, true);
    expect(overridden.a).toEqual(expected("acme"));
    expect(overridden.b).toEqual(expected("beta"));
    expect(overridden.c).toEqual(expected("beta")); // and the override travels on
    expect(overridden.event).toEqual(expected("beta"));
  });

  it("are inherited over memory:// by remote calls and events, and a per-call header wins", async () => {
    const cluster = createTestCluster();
    const [a, b, c, watcher] = chain;
    cluster.node("node-a").createService(a!);
    cluster.node("node-b").createService(b!);
    cluster.node("node-c").createService(c!);
    const last = cluster.node("node-w");
    last.createService(watcher!);
    const caller = cluster.node("caller");
    try {
      await cluster.start();
      await caller.waitForServices(["a"]);
      const plain = await runChain(caller, last, false);
      expect(plain).toEqual({
        a: expected("acme"),
        b: expected("acme"),
        c: expected("acme"),
        event: expected("acme"),
      });
      const overridden = await runChain(caller, last, true);
      expect(overridden).toEqual({
        a: expected("acme"),
        b: expected("beta"),
        c: expected("beta"),
        event: expected("beta"),
      });
    } finally {
      await cluster.stop();
    }
  });

  it("an event's own headers are merged over the emitter's", async () => {
    const broker = await startBroker([
      defineService({ name: "watcher", events: { "chain.passed": { handler() {} } } }),
      defineService({
        name: "emitter",
        actions: {
          go: {
            handler: (ctx) => ctx.emit("chain.passed", {}, { headers: { "x-tenant": "gamma" } }),
          },
        },
      }),
    ]);
    const passed = waitForEvent(broker, "chain.passed");
    await broker.call("emitter.go", {}, { headers: { ...incoming, "x-tenant": "acme" } });
    expect((await passed).ctx.headers).toEqual(expected("gamma"));
  });
});
