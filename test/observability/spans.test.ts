import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineService, FlotillaError, ServiceBroker } from "../../src/index.js";
import { until } from "../harness/index.js";
import { memorySdk, parentOf } from "./memory-sdk.js";

// An SDK registered by the application (not by Flotilla): spans go to memory.
const exporter = memorySdk();

const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

function node(
  nodeID: string,
  transporter: string,
  ...services: Parameters<ServiceBroker["createService"]>[0][]
) {
  const broker = new ServiceBroker({ nodeID, transporter, logger: false });
  for (const s of services) broker.createService(s);
  brokers.push(broker);
  return broker;
}

const products = defineService({
  name: "products",
  actions: {
    get: {
      params: z.object({ id: z.number() }),
      handler(ctx) {
        if (ctx.params.id === 0) throw new FlotillaError("No product 0", "PRODUCT_NOT_FOUND", 404);
        return { id: ctx.params.id, price: 5 };
      },
    },
  },
});

const orders = defineService({
  name: "orders",
  actions: {
    place: {
      params: z.object({ productId: z.number() }),
      async handler(ctx) {
        const product = (await ctx.call("products.get", { id: ctx.params.productId })) as {
          price: number;
        };
        await ctx.emit("orders.placed", { total: product.price });
        return { total: product.price };
      },
    },
  },
});

function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((s) => s.name === name);
  if (span === undefined)
    throw new Error(`no span ${name} in ${spans.map((s) => s.name).join(", ")}`);
  return span;
}

describe("spans of calls and events, with an SDK the application registered", () => {
  for (const transporter of ["memory://", "tcp://"]) {
    it(`one trace from a call through a nested call and an event, on ${transporter}`, async () => {
      const seen: string[] = [];
      const email = defineService({
        name: "email",
        events: {
          "orders.placed": {
            handler(ctx) {
              seen.push(ctx.logger.bindings().trace_id as string);
            },
          },
        },
      });
      const ns = `t${Math.random().toString(36).slice(2, 8)}`;
      const url = transporter === "tcp://" ? "tcp://" : `memory://${ns}`;
      const a = node(`a-${ns}`, url, orders);
      const b = node(`b-${ns}`, url, products, email);
      await b.start();
      await a.start();
      await a.waitForServices(["products", "email"]);
      await expect(a.call("orders.place", { productId: 7 })).resolves.toEqual({ total: 5 });
      await until(() => seen.length === 1 && exporter.getFinishedSpans().length >= 6, {
        message: "the handler of orders.placed and six spans",
      });
      const spans = exporter.getFinishedSpans();
      const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
      expect(traceIds.size).toBe(1);
      expect(seen[0]).toBe([...traceIds][0]);

      const placeClient = byName(
        spans.filter((s) => s.kind === SpanKind.CLIENT),
        "orders/place",
      );
      const placeServer = byName(
        spans.filter((s) => s.kind === SpanKind.SERVER),
        "orders/place",
      );
      const getClient = byName(
        spans.filter((s) => s.kind === SpanKind.CLIENT),
        "products/get",
      );
      const getServer = byName(
        spans.filter((s) => s.kind === SpanKind.SERVER),
        "products/get",
      );
      const send = byName(spans, "send orders.placed");
      const process = byName(spans, "process orders.placed");
      expect(parentOf(placeClient)).toBeUndefined();
      expect(parentOf(placeServer)).toBe(placeClient.spanContext().spanId);
      expect(parentOf(getClient)).toBe(placeServer.spanContext().spanId);
      expect(parentOf(getServer)).toBe(getClient.spanContext().spanId);
      expect(parentOf(send)).toBe(placeServer.spanContext().spanId);
      expect(parentOf(process)).toBe(send.spanContext().spanId);
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(process.kind).toBe(SpanKind.CONSUMER);
      expect(getServer.attributes).toMatchObject({
        "rpc.system": "flotilla",
        "rpc.service": "products",
        "rpc.method": "get",
        "flotilla.node_id": b.nodeID,
        "flotilla.caller_node": a.nodeID,
      });
      expect(process.attributes).toMatchObject({
        "messaging.destination.name": "orders.placed",
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": "email",
      });
    });
  }

  it("records a failing call's error with its code on both spans", async () => {
    const a = node("err-a", "memory://err", products);
    await a.start();
    await expect(a.call("products.get", { id: 0 })).rejects.toThrow("No product 0");
    const spans = exporter.getFinishedSpans();
    for (const span of spans.filter((s) => s.name === "products/get")) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes["error.type"]).toBe("PRODUCT_NOT_FOUND");
      expect(span.events.map((e) => e.name)).toContain("exception");
    }
    expect(spans.filter((s) => s.name === "products/get")).toHaveLength(2);
  });

  it("makes no span at all with tracing: false", async () => {
    const broker = new ServiceBroker({ nodeID: "off", logger: false, tracing: false });
    broker.createService(products);
    brokers.push(broker);
    await broker.start();
    await broker.call("products.get", { id: 1 });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
