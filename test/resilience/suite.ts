import { type BrokerOptions, RequestTimeoutError, ServiceBroker } from "flotilla";
import { crashNode } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";
import { workService } from "./services.js";

/** The transport the resilience scenarios run on. */
export interface ResilienceTarget {
  name: string;
  transporter: () => BrokerOptions["transporter"];
  /** How long a crash takes to be noticed (peer-aware transporters: at once; others: heartbeats). */
  noticeWithin: number;
}

let seq = 0;

/**
 * The scenarios of issue 6 (a)-(d), through the public API, on one transport. Calls are counted
 * one by one: "zero failed calls" means every promise resolved.
 */
export function runResilienceScenarios(target: ResilienceTarget): void {
  const live: ServiceBroker[] = [];
  const namespace = `res${process.pid}x${Date.now().toString(36)}`;
  afterEach(async () => {
    await Promise.allSettled(live.splice(0).map((b) => b.stop()));
  });
  const node = (tag: string, extra: BrokerOptions = {}) => {
    seq += 1;
    const broker = new ServiceBroker({
      nodeID: `${tag}-${seq}`,
      namespace: `${namespace}-${seq}`,
      logger: false,
      transporter: target.transporter(),
      heartbeatInterval: 100,
      heartbeatTimeout: 1_000,
      ...extra,
    });
    live.push(broker);
    return broker;
  };
  const cluster = async (count: number, namespaceOf: ServiceBroker | undefined = undefined) => {
    const ns = namespaceOf?.namespace ?? `${namespace}-c${++seq}`;
    const servers = Array.from({ length: count }, (_, i) => {
      const b = node(`work${i}`, { namespace: ns });
      b.createService(workService(`w${i}`));
      return b;
    });
    const client = node("client", { namespace: ns });
    await Promise.all([...servers, client].map((b) => b.start()));
    await until(
      () =>
        [...client.registry.remote.nodes.values()].filter((n) => n.info.services.length > 0)
          .length === count,
    );
    return { servers, client, ns };
  };

  describe(`resilience: ${target.name}`, () => {
    it("(a) 1,000 concurrent idempotent calls, one of two instances killed mid-way: zero failed calls", async () => {
      const { servers, client } = await cluster(2);
      let done = 0;
      const calls = Array.from({ length: 1000 }, () =>
        client.call<string>("work.run", { ms: 5 }, { timeout: 15_000 }).then((r) => {
          done++;
          return r;
        }),
      );
      await until(() => done >= 100);
      await crashNode(servers[0]!);
      const results = await Promise.allSettled(calls);
      const failed = results.filter((r) => r.status === "rejected");
      expect(failed.map((f) => (f as PromiseRejectedResult).reason)).toEqual([]);
      expect(results).toHaveLength(1000);
    }, 30_000);

    it("(b) the only instance killed: every call fails within its timeout with a retryable error", async () => {
      const { servers, client } = await cluster(1);
      const timeout = 3_000;
      const started = Date.now();
      const calls = Array.from({ length: 100 }, (_, i) =>
        client.call(i % 2 ? "work.run" : "work.once", { ms: 10_000 }, { timeout }).then(
          () => ({ ok: true, at: Date.now() }),
          (error: unknown) => ({ ok: false, error, at: Date.now() }),
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
      await crashNode(servers[0]!);
      const outcomes = await Promise.all(calls);
      for (const o of outcomes) {
        expect(o.ok).toBe(false);
        expect((o as { error: { retryable?: boolean } }).error).toMatchObject({ retryable: true });
        expect(o.at - started).toBeLessThan(timeout + 1_000);
      }
      // Nothing hangs: a call made after the crash fails too, within its timeout.
      const late = Date.now();
      const err = await client.call("work.run", {}, { timeout: 500 }).catch((e: unknown) => e);
      expect(
        err instanceof RequestTimeoutError ||
          (err as { code?: string }).code === "SERVICE_NOT_FOUND",
      ).toBe(true);
      expect(Date.now() - late).toBeLessThan(1_500);
    }, 20_000);

    it("(c) rolling restart of three instances under load: zero failed calls", async () => {
      const { servers, client, ns } = await cluster(3);
      let stop = false;
      const failures: unknown[] = [];
      let completed = 0;
      const load = Array.from({ length: 16 }, async () => {
        while (!stop) {
          await client.call("work.run", { ms: 2 }, { timeout: 10_000 }).then(
            () => completed++,
            (e: unknown) => failures.push(e),
          );
        }
      });
      for (const [i, old] of servers.entries()) {
        const before = completed;
        await old.stop();
        const fresh = node(`work${i}`, { namespace: ns, nodeID: old.nodeID });
        fresh.createService(workService(`w${i}b`));
        await fresh.start();
        await until(
          () => (client.registry.remote.nodes.get(old.nodeID)?.info.services.length ?? 0) > 0,
        );
        await until(() => completed > before + 50);
      }
      stop = true;
      await Promise.all(load);
      expect(failures).toEqual([]);
      expect(completed).toBeGreaterThan(150);
    }, 60_000);

    it("(d) a circuit breaker opens on a failing instance, routes around it, and closes when it recovers", async () => {
      const ns = `${namespace}-d${++seq}`;
      const broken = { failing: true };
      const opts = { namespace: ns };
      const bad = node("bad", opts);
      bad.createService(workService("bad", broken));
      const good = node("good", opts);
      good.createService(workService("good"));
      const events: string[] = [];
      const client = node("client", {
        ...opts,
        retry: false,
        circuitBreaker: { minRequests: 4, threshold: 0.5, windowTime: 5_000, halfOpenAfter: 300 },
      });
      const { defineService } = await import("flotilla");
      client.createService(
        defineService({
          name: "watch",
          events: {
            "$circuit-breaker.*": {
              handler: (ctx) => void events.push(`${ctx.name}:${String(ctx.params.nodeID)}`),
            },
          },
        }),
      );
      await Promise.all([bad.start(), good.start(), client.start()]);
      await until(
        () =>
          [...client.registry.remote.nodes.values()].filter((n) => n.info.services.length > 0)
            .length === 2,
      );

      // Calls keep coming until the failing instance's breaker opens (4 failures at the least;
      // how the calls spread depends on the registry's order, which heartbeats may reshuffle).
      await until(
        async () => {
          await client.call("work.run").catch(() => undefined);
          return events.includes(`$circuit-breaker.opened:${bad.nodeID}`);
        },
        { interval: 0, message: "the breaker to open" },
      );
      const whileOpen = await Promise.all(
        Array.from({ length: 10 }, () => client.call<string>("work.run")),
      );
      expect(new Set(whileOpen)).toEqual(new Set(["good"]));

      broken.failing = false;
      // Calls keep coming until one probe gets through to the recovered instance.
      await until(
        async () => {
          await client.call("work.run").catch(() => undefined);
          return events.includes(`$circuit-breaker.closed:${bad.nodeID}`);
        },
        { interval: 20, message: "the breaker to close" },
      );
      expect(events).toContain(`$circuit-breaker.half-opened:${bad.nodeID}`);
      expect(events).toContain(`$circuit-breaker.closed:${bad.nodeID}`);
      const after = await Promise.all(
        Array.from({ length: 10 }, () => client.call<string>("work.run")),
      );
      expect(new Set(after)).toEqual(new Set(["good", "bad"]));
    }, 20_000);
  });
}
