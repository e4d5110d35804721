import { randomUUID } from "node:crypto";
import { defineService, FlotillaError, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { getInternals } from "../../src/broker/internals.js";
import { transporterName } from "../../src/observability/metrics/collectors.js";
import type { Instruments } from "../../src/observability/metrics/instruments.js";
import { metricsMiddleware } from "../../src/observability/metrics/middleware.js";
import { DEFAULT_BUCKETS, resolveMetricsOptions } from "../../src/observability/metrics/options.js";
import { deferred, startBroker, testBroker } from "../helpers.js";
import { parseExposition, scrape } from "./fixtures/metrics/exposition.js";

// The metrics of calls and events, read from the exposition a broker serves: what a call, an
// error, an event adds, and that label values stay bounded.

const math = defineService({
  name: "math",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      handler: async (ctx) => ctx.params.a + ctx.params.b,
    },
    sync: { handler: () => 1 },
    refuse: {
      handler() {
        throw new FlotillaError("No.", "NOT_ALLOWED_HERE", 403);
      },
    },
    crash: {
      async handler() {
        throw new TypeError("broken");
      },
    },
  },
});

const metricsOn = { metrics: { processMetrics: false } } as const;

const saved = process.env.FLOTILLA_METRICS;
afterEach(() => {
  if (saved === undefined) delete process.env.FLOTILLA_METRICS;
  else process.env.FLOTILLA_METRICS = saved;
});

describe("metrics of calls", () => {
  it("counts calls handled and made by action and outcome code, and times them", async () => {
    const broker = await startBroker(math, metricsOn);
    await broker.call("math.add", { a: 1, b: 2 });
    await broker.call("math.add", { a: 1, b: 2 });
    await broker.call("math.sync");
    await expect(broker.call("math.refuse")).rejects.toThrow("No.");
    await expect(broker.call("math.crash")).rejects.toThrow("broken");
    await expect(broker.call("math.add", { a: "x" })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
    await expect(broker.call("nowhere.at.all")).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });

    const m = await scrape(broker);
    const me = broker.nodeID;
    const handled = (action: string, code: string) =>
      m.value("flotilla_calls_handled_total", { action, caller: me, code });
    expect(handled("math.add", "OK")).toBe(2);
    expect(handled("math.add", "VALIDATION_ERROR")).toBe(1);
    expect(handled("math.sync", "OK")).toBe(1);
    expect(handled("math.refuse", "NOT_ALLOWED_HERE")).toBe(1);
    expect(handled("math.crash", "INTERNAL_ERROR")).toBe(1);

    const made = (action: string, code: string) =>
      m.value("flotilla_calls_made_total", { action, code });
    expect(made("math.add", "OK")).toBe(2);
    expect(made("math.refuse", "NOT_ALLOWED_HERE")).toBe(1);
    expect(made("nowhere.at.all", "SERVICE_NOT_FOUND")).toBe(1);
    // Nothing handled an action that does not exist.
    expect(m.all("flotilla_calls_handled_total", { action: "nowhere.at.all" })).toEqual([]);

    // Histograms: cumulative buckets up to +Inf, which equals the count.
    const buckets = m.all("flotilla_handler_duration_seconds_bucket", { action: "math.add" });
    expect(buckets.map((b) => b.labels.le)).toEqual([
      "0.0005",
      "0.001",
      "0.0025",
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "5",
      "10",
      "+Inf",
    ]);
    const counts = buckets.map((b) => b.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(3);
    expect(m.value("flotilla_handler_duration_seconds_count", { action: "math.add" })).toBe(3);
    expect(
      m.value("flotilla_handler_duration_seconds_sum", { action: "math.add" }),
    ).toBeGreaterThan(0);
    expect(m.value("flotilla_call_duration_seconds_count", { action: "math.add" })).toBe(3);
    expect(m.value("flotilla_call_duration_seconds_count", { action: "nowhere.at.all" })).toBe(1);
    expect(m.value("flotilla_calls_in_flight", { action: "math.add" })).toBe(0);
  });

  it("labels calls from another node with that node, and counts them on both sides", async () => {
    const bus = `memory://metrics-${randomUUID()}`;
    const server = await startBroker(math, { ...metricsOn, transporter: bus, nodeID: "server-1" });
    const client = await startBroker([], { ...metricsOn, transporter: bus, nodeID: "client-1" });
    await client.waitForServices("math", 5_000);
    await client.call("math.add", { a: 1, b: 1 });
    await expect(client.call("math.refuse")).rejects.toMatchObject({ code: "NOT_ALLOWED_HERE" });

    const s = await scrape(server);
    expect(
      s.value("flotilla_calls_handled_total", {
        action: "math.add",
        caller: "client-1",
        code: "OK",
      }),
    ).toBe(1);
    expect(
      s.value("flotilla_calls_handled_total", {
        action: "math.refuse",
        caller: "client-1",
        code: "NOT_ALLOWED_HERE",
      }),
    ).toBe(1);
    const c = await scrape(client);
    expect(c.value("flotilla_calls_made_total", { action: "math.add", code: "OK" })).toBe(1);
    expect(
      c.value("flotilla_calls_made_total", { action: "math.refuse", code: "NOT_ALLOWED_HERE" }),
    ).toBe(1);
    expect(c.value("flotilla_call_duration_seconds_count", { action: "math.add" })).toBe(1);
    // The client serves nothing: no handler-side series.
    expect(c.all("flotilla_calls_handled_total")).toEqual([]);
  });

  it("shows the calls in flight while a handler runs", async () => {
    const gate = deferred();
    const started = deferred();
    const broker = await startBroker(
      defineService({
        name: "slow",
        actions: {
          wait: {
            async handler() {
              started.resolve();
              await gate.promise;
              return "done";
            },
          },
        },
      }),
      metricsOn,
    );
    const calls = [broker.call("slow.wait"), broker.call("slow.wait")];
    await started.promise;
    expect((await scrape(broker)).value("flotilla_calls_in_flight", { action: "slow.wait" })).toBe(
      2,
    );
    gate.resolve();
    await Promise.all(calls);
    expect((await scrape(broker)).value("flotilla_calls_in_flight", { action: "slow.wait" })).toBe(
      0,
    );
  });

  it("keeps labels bounded: 1,000 unknown action names make at most 501 series", async () => {
    const broker = await startBroker(math, metricsOn);
    for (let i = 0; i < 1000; i++) {
      await expect(broker.call(`ghost.action${i}`)).rejects.toMatchObject({
        code: "SERVICE_NOT_FOUND",
      });
    }
    await broker.call("math.add", { a: 1, b: 1 });
    const m = await scrape(broker);
    const failed = m.all("flotilla_calls_made_total", { code: "SERVICE_NOT_FOUND" });
    expect(failed.length).toBeLessThanOrEqual(501);
    // The first 500 names are kept as they are; the other 500 are "other".
    expect(
      m.value("flotilla_calls_made_total", { action: "ghost.action0", code: "SERVICE_NOT_FOUND" }),
    ).toBe(1);
    expect(
      m.value("flotilla_calls_made_total", { action: "other", code: "SERVICE_NOT_FOUND" }),
    ).toBe(500);
    const sum = failed.reduce((total, s) => total + s.value, 0);
    expect(sum).toBe(1000);
    // A name first seen after the cap is "other" too, also when it exists.
    expect(m.value("flotilla_calls_made_total", { action: "other", code: "OK" })).toBe(1);
    // The handler side labels with the action's own name: always kept.
    expect(
      m.value("flotilla_calls_handled_total", {
        action: "math.add",
        caller: broker.nodeID,
        code: "OK",
      }),
    ).toBe(1);
    const actions = new Set(
      m.all("flotilla_call_duration_seconds_count").map((s) => s.labels.action),
    );
    expect(actions.size).toBeLessThanOrEqual(501);
  });
});

describe("metrics of events", () => {
  it("counts events emitted by operation and handled by handler, group and outcome code", async () => {
    const broker = await startBroker(
      [
        defineService({
          name: "audit",
          events: {
            "order.*": { handler() {} },
            "order.placed": {
              group: "mailer",
              async handler(ctx) {
                if ((ctx.params as { id: number }).id === 2) throw new Error("smtp down");
              },
            },
            "order.failed": {
              group: "alarms",
              handler() {
                throw new FlotillaError("Alarm down", "ALARM_DOWN", 503);
              },
            },
          },
        }),
      ],
      metricsOn,
    );
    const handled = deferred();
    let seen = 0;
    const off = broker.events.observe(() => {
      seen++;
      if (seen === 6) handled.resolve();
    });
    await broker.emit("order.placed", { id: 1 });
    await broker.emit("order.placed", { id: 2 });
    await broker.broadcast("order.failed", { id: 3 });
    await handled.promise;
    off();

    const m = await scrape(broker);
    expect(
      m.value("flotilla_events_emitted_total", { event: "order.placed", operation: "emit" }),
    ).toBe(2);
    expect(
      m.value("flotilla_events_emitted_total", { event: "order.failed", operation: "broadcast" }),
    ).toBe(1);
    expect(
      m.value("flotilla_events_handled_total", { event: "order.*", group: "audit", code: "OK" }),
    ).toBe(3);
    expect(
      m.value("flotilla_events_handled_total", {
        event: "order.placed",
        group: "mailer",
        code: "OK",
      }),
    ).toBe(1);
    expect(
      m.value("flotilla_events_handled_total", {
        event: "order.placed",
        group: "mailer",
        code: "INTERNAL_ERROR",
      }),
    ).toBe(1);
    expect(
      m.value("flotilla_events_handled_total", {
        event: "order.failed",
        group: "alarms",
        code: "ALARM_DOWN",
      }),
    ).toBe(1);
    // Internal events are the node's own business.
    expect(
      m.all("flotilla_events_emitted_total").some((s) => s.labels.event?.startsWith("$")),
    ).toBe(false);
  });
});

describe("metrics options", () => {
  it("are off by default: no metrics, and no middleware wraps anything for them", async () => {
    delete process.env.FLOTILLA_METRICS;
    const off = await startBroker(math);
    const on = await startBroker(math, metricsOn);
    expect(off.metrics).toBeUndefined();
    expect(getInternals(on).pipeline.size).toBe(getInternals(off).pipeline.size + 1);
    await expect(off.call("math.add", { a: 1, b: 2 })).resolves.toBe(3);
  });

  it("are turned on by FLOTILLA_METRICS=1 or true, and off by metrics: false whatever it says", () => {
    process.env.FLOTILLA_METRICS = "1";
    expect(testBroker().metrics).toBeDefined();
    process.env.FLOTILLA_METRICS = "TRUE";
    expect(testBroker().metrics).toBeDefined();
    expect(testBroker({ metrics: false }).metrics).toBeUndefined();
    process.env.FLOTILLA_METRICS = "0";
    expect(testBroker().metrics).toBeUndefined();
    expect(testBroker({ metrics: true }).metrics).toBeDefined();
  });

  it("takes a prefix and buckets, and refuses a prefix no metric name can start with", async () => {
    const broker = await startBroker(math, {
      metrics: { prefix: "shop_", buckets: [0.1, 0.01], processMetrics: false },
    });
    await broker.call("math.add", { a: 1, b: 2 });
    const m = await scrape(broker);
    expect(
      m.all("shop_handler_duration_seconds_bucket", { action: "math.add" }).map((s) => s.labels.le),
    ).toEqual(["0.01", "0.1", "+Inf"]);
    expect(m.samples.every((s) => s.name.startsWith("shop_"))).toBe(true);
    expect(() => new ServiceBroker({ logger: false, metrics: { prefix: "9lives" } })).toThrow(
      TypeError,
    );
    expect(() => resolveMetricsOptions({ buckets: [] })).toThrow(TypeError);
    expect(() => resolveMetricsOptions({ buckets: [Number.NaN] })).toThrow(TypeError);
  });

  it("gives each broker its own registry, with Node process metrics unless turned off", async () => {
    const a = await startBroker(math, { metrics: true, nodeID: "a" });
    const b = await startBroker(math, { metrics: true, nodeID: "b" });
    await a.call("math.add", { a: 1, b: 2 });
    const ma = await scrape(a);
    const mb = await scrape(b);
    expect(ma.value("flotilla_calls_made_total", { action: "math.add", code: "OK" })).toBe(1);
    expect(
      mb.value("flotilla_calls_made_total", { action: "math.add", code: "OK" }),
    ).toBeUndefined();
    expect(ma.value("flotilla_process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(ma.all("flotilla_nodejs_heap_size_used_bytes")).toHaveLength(1);
    // Gauges named like counters are left out (promtool refuses them).
    expect(ma.all("flotilla_nodejs_active_handles_total")).toEqual([]);
    expect(a.metrics?.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");

    const quiet = await startBroker(math, metricsOn);
    expect((await scrape(quiet)).all("flotilla_process_resident_memory_bytes")).toEqual([]);
  });

  it("serves the application's own metrics registered on the broker's registry", async () => {
    const broker = await startBroker(math, metricsOn);
    const { Counter } = await import("prom-client");
    const orders = new Counter({
      name: "shop_orders_total",
      help: "Orders placed.",
      registers: [broker.metrics!.registry],
    });
    orders.inc(3);
    const samples = parseExposition(await broker.metrics!.text());
    expect(samples.find((s) => s.name === "shop_orders_total")?.value).toBe(3);
  });
});

describe("metrics settings", () => {
  it("fill in defaults, sort and dedupe buckets, and read FLOTILLA_METRICS", () => {
    expect(resolveMetricsOptions(true, {})).toEqual({
      prefix: "flotilla_",
      processMetrics: true,
      buckets: DEFAULT_BUCKETS,
    });
    expect(resolveMetricsOptions({ buckets: [1, 0.5, 1], prefix: "" }, {})).toEqual({
      prefix: "",
      processMetrics: true,
      buckets: [0.5, 1],
    });
    expect(resolveMetricsOptions(undefined, {})).toBeUndefined();
    expect(resolveMetricsOptions(undefined, { FLOTILLA_METRICS: " true " })).toBeDefined();
    expect(resolveMetricsOptions(undefined, { FLOTILLA_METRICS: "yes" })).toBeUndefined();
    expect(resolveMetricsOptions(false, { FLOTILLA_METRICS: "1" })).toBeUndefined();
  });

  it("label the transporter by URL scheme, or by the class of a transporter object", () => {
    expect(transporterName("nats://127.0.0.1:4222")).toBe("nats");
    expect(transporterName("AMQP://host")).toBe("amqp");
    expect(transporterName("")).toBe("unknown");
    class FancyTransporter {}
    expect(transporterName(new FancyTransporter())).toBe("FancyTransporter");
    expect(transporterName({})).toBe("custom");
  });
});

describe("the metrics middleware on its own", () => {
  it("counts a call whose next throws at once, and starts again from zero on resetMetrics", async () => {
    const broker = await startBroker(math, metricsOn);
    const runtime = broker.metrics as unknown as { instruments: Instruments };
    const wrapped = metricsMiddleware(runtime.instruments).call!(() => {
      throw new FlotillaError("Refused at once.", "AT_ONCE", 400);
    });
    expect(() => wrapped("math.add", {}, undefined)).toThrow("Refused at once.");
    let m = await scrape(broker);
    expect(m.value("flotilla_calls_made_total", { action: "math.add", code: "AT_ONCE" })).toBe(1);
    expect(m.value("flotilla_call_duration_seconds_count", { action: "math.add" })).toBe(1);

    await broker.call("math.add", { a: 1, b: 1 });
    broker.metrics!.registry.resetMetrics();
    m = await scrape(broker);
    expect(m.value("flotilla_calls_made_total", { action: "math.add", code: "OK" })).toBe(0);
    expect(m.value("flotilla_handler_duration_seconds_count", { action: "math.add" })).toBe(0);
    expect(
      m.value("flotilla_handler_duration_seconds_bucket", { action: "math.add", le: "+Inf" }),
    ).toBe(0);
    await broker.call("math.add", { a: 1, b: 1 });
    m = await scrape(broker);
    expect(m.value("flotilla_calls_made_total", { action: "math.add", code: "OK" })).toBe(1);
  });
});
