import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  defineService,
  FlotillaError,
  QueueFullError,
  RequestTimeoutError,
  ValidationError,
} from "flotilla";
import { createTestCluster, waitForEvent } from "flotilla/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { backoffDelay } from "../../src/middleware/resilience/backoff.js";
import { CircuitBreaker } from "../../src/middleware/resilience/breaker.js";
import { Bulkhead } from "../../src/middleware/resilience/bulkhead.js";
import { startHealthServer } from "../../src/observability/health-server.js";
import { until } from "../harness/index.js";
import { deferred, startBroker, testBroker } from "../helpers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("circuit breaker", () => {
  /** A breaker (window 1 s, half-open after 100 ms) on a clock the test sets with `at(ms)`. */
  function breakerAt(minRequests: number) {
    let now = 0;
    const options = { minRequests, threshold: 0.5, windowTime: 1000, halfOpenAfter: 100 };
    const breaker = new CircuitBreaker(options, () => now);
    const at = (ms: number) => {
      now = ms;
    };
    return { breaker, at };
  }

  it("opens past the failure share, lets one probe through after the wait, and closes on success", () => {
    const { breaker, at } = breakerAt(4);
    breaker.record(true);
    breaker.record(false);
    expect(breaker.record(false)).toBeUndefined(); // 2 of 3: not enough calls yet
    expect(breaker.record(false)).toBe("open"); // 3 of 4 failed
    expect(breaker.allows()).toBe(false);
    at(150);
    expect(breaker.allows()).toBe(true); // the probe
    expect(breaker.state).toBe("half-open");
    expect(breaker.allows()).toBe(false); // only one probe at a time
    expect(breaker.record(true)).toBe("closed");
    expect(breaker.allows()).toBe(true);
  });

  it("opens again when the probe fails, and forgets failures that left the window", () => {
    const { breaker, at } = breakerAt(2);
    breaker.record(false);
    at(2000); // the first failure is out of the window
    expect(breaker.record(true)).toBeUndefined();
    expect(breaker.state).toBe("closed");
    expect(breaker.record(false)).toBe("open"); // 1 of 2 failed: the threshold is reached
    at(2200);
    expect(breaker.allows()).toBe(true);
    expect(breaker.record(false)).toBe("open");
    expect(breaker.allows()).toBe(false);
  });
});

describe("backoff", () => {
  it("grows exponentially with full jitter, capped", () => {
    expect(backoffDelay(0, { delay: 100 }, () => 1)).toBe(100);
    expect(backoffDelay(3, { delay: 100 }, () => 1)).toBe(800);
    expect(backoffDelay(10, { delay: 100, maxDelay: 1000 }, () => 1)).toBe(1000);
    expect(backoffDelay(3, { delay: 100 }, () => 0)).toBe(0);
  });
});

describe("bulkhead", () => {
  it("runs at most `concurrency` at once, queues in order, and sheds past the queue", async () => {
    const bulkhead = new Bulkhead("x", { concurrency: 2, queue: 2 });
    const gates = Array.from({ length: 4 }, () => deferred());
    const order: number[] = [];
    const runs = gates.map((g, i) =>
      bulkhead.run(async () => {
        order.push(i);
        await g.promise;
        return i;
      }),
    );
    await expect(bulkhead.run(() => 99)).rejects.toBeInstanceOf(QueueFullError);
    expect(bulkhead.running).toBe(2);
    expect(bulkhead.queued).toBe(2);
    gates[0]!.resolve();
    await runs[0];
    // The freed slot goes to the first waiter, not to a newcomer.
    const late = bulkhead.run(() => "late");
    expect(bulkhead.running).toBe(2);
    for (const g of gates) g.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(await late).toBe("late");
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it("(e) sheds load at once under 10,000 concurrent calls, with bounded memory", async () => {
    const broker = testBroker();
    const release = deferred();
    broker.createService(
      defineService({
        name: "report",
        actions: {
          build: {
            bulkhead: { concurrency: 2, queue: 10 },
            handler: () => release.promise.then(() => "built"),
          },
        },
      }),
    );
    await broker.start();
    gc();
    const before = process.memoryUsage().heapUsed;
    let shed = 0;
    let other = 0;
    const accepted: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const call = broker.call("report.build").catch((e: unknown) => {
        if (e instanceof QueueFullError && e.retryable) shed++;
        else other++;
      });
      if (i < 12) accepted.push(call);
    }
    // Shed calls fail at once: all of them before any accepted call has finished.
    await until(() => shed + other === 9_988);
    expect(other).toBe(0);
    gc();
    // Only the 12 accepted calls are held: memory does not grow with the load that was shed.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(1024 * 1024);
    release.resolve();
    expect(await Promise.all(accepted)).toEqual(Array(12).fill("built"));
  });
});

describe("retries, fallbacks and timeouts", () => {
  it("retries an idempotent action after retryable errors and its backoff, not other actions or errors", async () => {
    const broker = testBroker();
    let flaky = 0;
    let strict = 0;
    broker.createService(
      defineService({
        name: "svc",
        actions: {
          flaky: {
            idempotent: true,
            retry: { retries: 3, delay: 100 },
            handler() {
              flaky += 1;
              if (flaky < 3) throw new FlotillaError("busy", "BUSY", 503, { retryable: true });
              return flaky;
            },
          },
          strict: {
            handler() {
              strict += 1;
              throw new FlotillaError("busy", "BUSY", 503, { retryable: true });
            },
          },
          invalid: { idempotent: true, params: z.object({ n: z.number() }), handler: () => 1 },
        },
      }),
    );
    await broker.start();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    vi.spyOn(Math, "random").mockReturnValue(1); // no jitter: each wait is its whole ceiling
    const answer = broker.call("svc.flaky");
    // Attempts at 0, 100 and 300 ms on the fake clock: the waits double from `delay`.
    for (const [advance, attempts] of [
      [0, 1],
      [99, 1],
      [1, 2],
      [199, 2],
      [1, 3],
    ] as const) {
      await vi.advanceTimersByTimeAsync(advance);
      expect(flaky).toBe(attempts);
    }
    await expect(answer).resolves.toBe(3);
    await expect(broker.call("svc.strict")).rejects.toMatchObject({ code: "BUSY" });
    expect(strict).toBe(1);
    const retried = broker.call("svc.strict", {}, { retries: 2 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(49);
    expect(strict).toBe(2); // the default first wait is 50 ms
    await vi.advanceTimersByTimeAsync(1 + 100);
    expect(await retried).toMatchObject({ code: "BUSY" });
    expect(strict).toBe(4);
    await expect(broker.call("svc.invalid", { n: "x" })).rejects.toBeInstanceOf(ValidationError);
  });

  it("answers with a fallback per action or per call, but never hides invalid params", async () => {
    const broker = await startBroker(
      defineService({
        name: "recs",
        actions: {
          forUser: {
            params: z.object({ id: z.number() }),
            fallback: (err) => ({ items: [], reason: (err as Error).message }),
            handler() {
              throw new Error("model offline");
            },
          },
          slow: { handler: () => new Promise((r) => setTimeout(() => r("late"), 200)) },
        },
      }),
    );
    await expect(broker.call("recs.forUser", { id: 1 })).resolves.toEqual({
      items: [],
      reason: "model offline",
    });
    await expect(broker.call("recs.forUser", { id: "x" })).rejects.toBeInstanceOf(ValidationError);
    await expect(
      broker.call("recs.slow", {}, { timeout: 10, fallback: { value: "cached" } }),
    ).resolves.toBe("cached");
    await expect(broker.call("nope.nothing", {}, { fallback: () => "default" })).resolves.toBe(
      "default",
    );
  });

  it("times a local handler out at the call's deadline", async () => {
    const late = () => new Promise((r) => setTimeout(() => r("late"), 200));
    const broker = await startBroker(
      defineService({ name: "t", actions: { slow: { timeout: 20, handler: late } } }),
    );
    await expect(broker.call("t.slow")).rejects.toBeInstanceOf(RequestTimeoutError);
  });
});

describe("health", () => {
  it("reports liveness, readiness and services, and serves them for probes", async () => {
    const broker = testBroker();
    broker.createService(defineService({ name: "users" }));
    expect(broker.health()).toMatchObject({ ready: false, state: "created" });
    await broker.start();
    expect(broker.health()).toMatchObject({
      live: true,
      ready: true,
      state: "started",
      services: { users: "started" },
    });
    const server = await startHealthServer(broker, { port: 0, host: "127.0.0.1" });
    const { port } = server.address() as { port: number };
    const live = await fetch(`http://127.0.0.1:${port}/health/live`);
    expect(live.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, services: { users: "started" } });
    await broker.stop();
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    await new Promise((resolve) => server.close(resolve));
  });
});

describe("test cluster with fault injection", () => {
  const echo = (tag: string) =>
    defineService({ name: "echo", actions: { who: { idempotent: true, handler: () => tag } } });

  it("partitions two nodes: the caller loses the one it cannot reach and uses the other", async () => {
    const cluster = createTestCluster();
    cluster.node("a").createService(echo("a"));
    cluster.node("b").createService(echo("b"));
    const caller = cluster.node("caller");
    caller.createService(
      defineService({ name: "watch", events: { "$node.disconnected": { handler: () => {} } } }),
    );
    try {
      await cluster.start();
      await until(
        () =>
          caller.registry.remote.nodes.size === 2 &&
          caller.registry.catalog().some((a) => a.nodeIDs.length === 2),
      );
      const lost = waitForEvent(caller, "$node.disconnected");
      cluster.partition("caller", "a");
      expect((await lost).params).toMatchObject({ nodeID: "a", unexpected: true });
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => caller.call<string>("echo.who")),
      );
      expect(new Set(answers)).toEqual(new Set(["b"]));
      cluster.heal();
    } finally {
      await cluster.stop();
    }
  });

  it("adds latency, drops a share of packets, and kills a node", async () => {
    const cluster = createTestCluster();
    cluster.node("a").createService(echo("a"));
    const caller = cluster.node("caller");
    try {
      await cluster.start();
      await caller.waitForServices("echo", 2_000);
      cluster.latency(50, { from: "a", to: "caller" });
      const started = Date.now();
      await caller.call("echo.who");
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      cluster.heal();
      cluster.dropRate(1, { from: "caller", to: "a" });
      await expect(
        caller.call("echo.who", {}, { timeout: 100, retries: 0 }),
      ).rejects.toBeInstanceOf(RequestTimeoutError);
      cluster.heal();
      await cluster.kill("a");
      await until(() => !caller.registry.isAvailable("echo"));
    } finally {
      await cluster.stop();
    }
  });
});
