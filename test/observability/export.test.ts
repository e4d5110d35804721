import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNatsNamespaces } from "../events/durable/servers.js";
import { requireServer, SHARED, until } from "../harness/index.js";
import { killAll, ShopProcess } from "./fixtures/tracing/processes.js";
import { otlpReceiver, type ReceivedSpan, type Receiver, zipkinReceiver } from "./receivers.js";

// One HTTP request through three processes (gateway → orders → products, and a durable event to
// `email`), each with tracing turned on by OTEL_* variables alone, exported to an in-test
// collector: the spans must form one trace with the right parents, kinds, errors and services.

const dir = mkdtempSync(join(tmpdir(), "flotilla-export-"));
const namespaces: string[] = [];
beforeAll(() => requireServer("nats"));
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
  await deleteNatsNamespaces(namespaces);
});

interface Shop {
  gateway: ShopProcess;
  orders: ShopProcess;
  products: ShopProcess;
  url: string;
}

async function startShop(transport: "tcp" | "nats", env: Record<string, string>): Promise<Shop> {
  const namespace = `trace-${transport}-${process.pid}-${namespaces.length}`;
  namespaces.push(namespace);
  const transporter =
    transport === "nats" ? SHARED.nats.url : `tcp://?udp=false&dir=${encodeURIComponent(dir)}`;
  const common = { ...env, TRANSPORTER: transporter, NAMESPACE: namespace };
  const products = ShopProcess.spawn("products", { ...common, NODE_ID: `products-${namespace}` });
  const orders = ShopProcess.spawn("orders", { ...common, NODE_ID: `orders-${namespace}` });
  const gateway = ShopProcess.spawn("gateway", { ...common, NODE_ID: `gateway-${namespace}` });
  await Promise.all([products.ready(), orders.ready(), gateway.ready()]);
  const listening = await gateway.line((l) => l.startsWith("listening "), "listening");
  return { gateway, orders, products, url: listening.slice("listening ".length) };
}

/** The spans of `traceId`, once `count` of them arrived. */
async function traceOf(receiver: Receiver, traceId: string, count: number) {
  return until(
    () => {
      const spans = receiver.spans.filter((s) => s.traceId === traceId);
      return spans.length >= count && spans;
    },
    { timeout: 15_000, message: `${count} spans of trace ${traceId}` },
  );
}

/** The one span of `kind` and `name`, failing with the list when there is not exactly one. */
function find(spans: readonly ReceivedSpan[], kind: ReceivedSpan["kind"], name: string) {
  const found = spans.filter((s) => s.kind === kind && s.name === name);
  if (found.length !== 1) {
    const all = spans.map((s) => `${s.kind} ${s.name}`).join(", ");
    throw new Error(`expected one ${kind} ${name}, found ${found.length} in: ${all}`);
  }
  return found[0] as ReceivedSpan;
}

/** The gateway's span of the request for `path`. */
const rootOf = (receiver: Receiver, path: string) =>
  receiver.spans.find((s) => s.kind === "SERVER" && s.attributes["url.path"] === path);

// OTLP runs export as they go (batches every 20 ms) and are read while the processes run; Zipkin
// runs hold their batches (a 10-minute delay), so the spans arrive only with the graceful stop.
const runs = [
  { transport: "tcp", exporter: "otlp" },
  { transport: "nats", exporter: "otlp" },
  { transport: "tcp", exporter: "zipkin" },
  { transport: "nats", exporter: "zipkin" },
] as const;

describe("one trace across three processes, exported by the SDK that OTEL_* set up", () => {
  for (const { transport, exporter } of runs) {
    const live = exporter === "otlp";
    const title = `gateway → orders → products and a durable event, on ${transport}://, to ${exporter}`;
    it(title, async () => {
      const receiver = exporter === "otlp" ? await otlpReceiver() : await zipkinReceiver();
      try {
        const shop = await startShop(transport, {
          OTEL_TRACES_EXPORTER: exporter,
          ...(exporter === "otlp"
            ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
            : { OTEL_EXPORTER_ZIPKIN_ENDPOINT: receiver.url }),
          OTEL_BSP_SCHEDULE_DELAY: live ? "20" : "600000",
        });

        const ok = await fetch(`${shop.url}/orders/7`);
        expect(ok.status).toBe(200);
        expect(await ok.json()).toEqual({ productId: 7, total: 5 });
        const failed = await fetch(`${shop.url}/orders/0`);
        expect(failed.status).toBe(409);
        expect(await failed.json()).toMatchObject({ code: "OUT_OF_STOCK" });
        const logged = await shop.products.line(
          (l) => l.includes("order confirmation sent"),
          "the email handler's log line",
        );

        if (live) {
          const root = await until(() => rootOf(receiver, "/orders/7"), { timeout: 15_000 });
          await traceOf(receiver, root.traceId, 7);
          const failedRoot = await until(() => rootOf(receiver, "/orders/0"), { timeout: 15_000 });
          await traceOf(receiver, failedRoot.traceId, 5);
        } else {
          expect(receiver.requests).toBe(0);
        }
        // A graceful stop exports what is still buffered, then the process ends cleanly.
        const codes = await Promise.all([shop.gateway.stop(), shop.orders.stop()]);
        expect([...codes, await shop.products.stop()]).toEqual([0, 0, 0]);

        // The gateway's span is the root: its trace is the request's.
        const root = rootOf(receiver, "/orders/7") as ReceivedSpan;
        expect(root).toMatchObject({
          name: "GET /orders/:id",
          parentSpanId: undefined,
          serviceName: "gateway",
          attributes: {
            "http.request.method": "GET",
            "http.route": "/orders/:id",
            "http.response.status_code": "200",
          },
        });
        const spans = receiver.spans.filter((s) => s.traceId === root.traceId);
        expect(spans).toHaveLength(7);
        const placeClient = find(spans, "CLIENT", "orders/place");
        const placeServer = find(spans, "SERVER", "orders/place");
        const getClient = find(spans, "CLIENT", "products/get");
        const getServer = find(spans, "SERVER", "products/get");
        const send = find(spans, "PRODUCER", "send orders.created");
        const processed = find(spans, "CONSUMER", "process orders.created");
        expect(placeClient.parentSpanId).toBe(root.spanId);
        expect(placeServer.parentSpanId).toBe(placeClient.spanId);
        expect(getClient.parentSpanId).toBe(placeServer.spanId);
        expect(getServer.parentSpanId).toBe(getClient.spanId);
        expect(send.parentSpanId).toBe(placeServer.spanId);
        expect(processed.parentSpanId).toBe(send.spanId);
        // Each span comes from the process that made it, named after that process's services.
        expect(placeClient.serviceName).toBe("gateway");
        for (const s of [placeServer, getClient, send]) expect(s.serviceName).toBe("orders");
        for (const s of [getServer, processed]) expect(s.serviceName).toBe("products,email");
        expect(processed.attributes).toMatchObject({
          "messaging.system": transport === "nats" ? "nats" : "flotilla",
          "messaging.destination.name": "orders.created",
          "messaging.consumer.group.name": "email",
        });
        for (const s of spans) expect(s.status).not.toBe("ERROR");

        // The email handler's log line carries the trace ID the collector got.
        expect(JSON.parse(logged)).toMatchObject({
          trace_id: root.traceId,
          span_id: processed.spanId,
          event: "orders.created",
        });

        // The failing call: the error's code is on the failed spans, which are marked ERROR.
        const failedRoot = rootOf(receiver, "/orders/0") as ReceivedSpan;
        expect(failedRoot.attributes["http.response.status_code"]).toBe("409");
        const failedSpans = receiver.spans.filter((s) => s.traceId === failedRoot.traceId);
        expect(failedSpans).toHaveLength(5);
        for (const [kind, name] of [
          ["CLIENT", "orders/place"],
          ["SERVER", "orders/place"],
          ["CLIENT", "products/get"],
          ["SERVER", "products/get"],
        ] as const) {
          expect(find(failedSpans, kind, name), `${kind} ${name}`).toMatchObject({
            status: "ERROR",
            error: "Product 0 is out of stock",
            attributes: { "error.type": "OUT_OF_STOCK" },
          });
        }
      } finally {
        await receiver.close();
      }
    }, 60_000);
  }
});
