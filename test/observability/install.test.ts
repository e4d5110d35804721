import { context, isSpanContextValid, propagation, trace } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { defineService, ServiceBroker, type TracingOptions } from "../../src/index.js";
import { otlpReceiver, type Receiver } from "./receivers.js";

// The SDK that Flotilla installs in-process: shared by the brokers of a process, removed by the
// last one, sampled whole traces at a time, and stepping aside for the application's own SDK.

let receiver: Receiver;
beforeAll(async () => {
  receiver = await otlpReceiver();
});
afterAll(() => receiver.close());

const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
  receiver.spans.length = 0;
  vi.unstubAllEnvs();
});

const products = defineService({
  name: "products",
  actions: {
    get: { params: z.object({ id: z.number() }), handler: (ctx) => ({ id: ctx.params.id }) },
  },
});
const orders = defineService({
  name: "orders",
  actions: {
    place: {
      params: z.object({ id: z.number() }),
      handler: (ctx) => ctx.call("products.get", { id: ctx.params.id }),
    },
  },
});

/** A node on a private memory bus, its log lines kept in `lines`. */
function node(
  bus: string,
  tracing: boolean | TracingOptions | undefined,
  ...services: Parameters<ServiceBroker["createService"]>[0][]
) {
  const lines: Record<string, unknown>[] = [];
  const broker = new ServiceBroker({
    transporter: `memory://${bus}`,
    tracing,
    logger: { level: "info", destination: { write: (l: string) => lines.push(JSON.parse(l)) } },
  });
  for (const s of services) broker.createService(s);
  brokers.push(broker);
  return { broker, lines };
}

const otlp = (more: TracingOptions = {}): TracingOptions => ({
  exporter: "otlp",
  endpoint: receiver.url,
  ...more,
});

/** Whether a span made now on the global API is recorded by some SDK. */
const sdkRegistered = () =>
  isSpanContextValid(trace.getTracer("probe").startSpan("probe").spanContext());

describe("the SDK Flotilla installs", () => {
  it("keeps or drops whole traces: a ratio decides new traces, a caller's decision is followed", async () => {
    const { broker } = node("ratio", otlp({ sampleRatio: 0.5 }), orders, products);
    await broker.start();
    for (let i = 0; i < 200; i++) await broker.call("orders.place", { id: i });
    await broker.stop();
    const perTrace = new Map<string, number>();
    for (const s of receiver.spans) perTrace.set(s.traceId, (perTrace.get(s.traceId) ?? 0) + 1);
    // Each kept trace has all four spans (two calls, caller and handler side).
    expect([...new Set(perTrace.values())]).toEqual([4]);
    expect(perTrace.size).toBeGreaterThan(60);
    expect(perTrace.size).toBeLessThan(140);

    receiver.spans.length = 0;
    const { broker: none } = node("ratio-0", otlp({ sampleRatio: 0 }), orders, products);
    await none.start();
    const sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const unsampled = "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    for (const traceparent of [sampled, unsampled]) {
      const parent = propagation.extract(context.active(), { traceparent });
      await context.with(parent, () => none.call("orders.place", { id: 1 }));
    }
    await none.call("orders.place", { id: 2 });
    await none.stop();
    // Only the trace whose caller sampled it is exported, whole, under the caller's span.
    expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(
      new Set(["0af7651916cd43dd8448eb211c80319c"]),
    );
    expect(receiver.spans).toHaveLength(4);
    const root = receiver.spans.find((s) => s.kind === "CLIENT" && s.name === "orders/place");
    expect(root?.parentSpanId).toBe("b7ad6b7169203331");
  });

  it("is shared by the brokers of a process and removed by the last one to stop", async () => {
    const a = node("shared", otlp(), orders);
    const b = node("shared", otlp({ serviceName: "ignored: the first installs" }), products);
    await Promise.all([a.broker.start(), b.broker.start()]);
    const installs = [...a.lines, ...b.lines].filter((l) => String(l.msg).startsWith("Tracing:"));
    expect(installs).toHaveLength(1);
    await a.broker.waitForServices("products");
    await a.broker.call("orders.place", { id: 1 });

    await b.broker.stop();
    expect(sdkRegistered()).toBe(true); // a still holds it
    // products left with b: the call fails, and its spans are exported all the same.
    await expect(a.broker.call("orders.place", { id: 2 })).rejects.toThrow();
    await a.broker.stop();
    expect(sdkRegistered()).toBe(false);
    expect(propagation.fields()).toEqual([]);
    // Every span made before the stops was exported, with the first installer's resource.
    expect(receiver.spans.filter((s) => s.name === "orders/place")).toHaveLength(4);
    expect(new Set(receiver.spans.map((s) => s.serviceName))).toEqual(new Set(["orders"]));

    // A later start installs it again, for the new node's services.
    receiver.spans.length = 0;
    const c = node("again", otlp(), products);
    await c.broker.start();
    await c.broker.call("products.get", { id: 3 });
    await c.broker.stop();
    expect(receiver.spans.map((s) => [s.kind, s.serviceName])).toEqual([
      ["SERVER", "products"],
      ["CLIENT", "products"],
    ]);
  });

  it("is installed from OTEL_TRACES_EXPORTER alone, and refused with the code on a bad value", async () => {
    vi.stubEnv("OTEL_TRACES_EXPORTER", "otlp");
    vi.stubEnv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url);
    vi.stubEnv("OTEL_SERVICE_NAME", "from-env");
    const { broker } = node("env", undefined, products);
    await broker.start();
    await broker.call("products.get", { id: 1 });
    await broker.stop();
    expect(receiver.spans.map((s) => s.serviceName)).toEqual(["from-env", "from-env"]);

    vi.stubEnv("OTEL_TRACES_EXPORTER", "jaeger");
    const bad = node("env-bad", undefined, products).broker;
    await expect(bad.start()).rejects.toMatchObject({
      code: "INVALID_TRACING_CONFIG",
      message: expect.stringContaining("OTEL_TRACES_EXPORTER 'jaeger'"),
    });
    const ratio = node("ratio-bad", otlp({ sampleRatio: 1.5 }), products).broker;
    await expect(ratio.start()).rejects.toMatchObject({ code: "INVALID_TRACING_CONFIG" });
    expect(sdkRegistered()).toBe(false);
  });

  it("steps aside for a tracer provider the application registered, saying so once", async () => {
    const exporter = new InMemorySpanExporter();
    const app = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    app.register();
    try {
      const a = node("foreign", otlp(), orders);
      const b = node("foreign", true, products);
      await Promise.all([a.broker.start(), b.broker.start()]);
      await a.broker.waitForServices("products");
      await a.broker.call("orders.place", { id: 1 });
      const said = [...a.lines, ...b.lines].filter((l) => String(l.msg).startsWith("Tracing:"));
      expect(said.map((l) => l.msg)).toEqual([
        "Tracing: the application registered an OpenTelemetry tracer provider; spans go to it",
      ]);
      await Promise.all([a.broker.stop(), b.broker.stop()]);
      expect(exporter.getFinishedSpans()).toHaveLength(4);
      expect(receiver.spans).toEqual([]);
      expect(sdkRegistered()).toBe(true); // the application's SDK is left in place
    } finally {
      await app.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    }
  });
});
