import type { Context } from "flotilla";
import { defineService, MaxCallLevelError, RequestTimeoutError } from "flotilla";
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
