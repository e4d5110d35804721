import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { defineDatabase, defineService, FlotillaError, ServiceBroker } from "flotilla";
import type { Kysely } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createGateway } from "../../src/gateway/index.js";
import { createHttpClient } from "../../src/http/index.js";
import { until } from "../harness/index.js";
import { idOf, memorySdk, parentOf, spanNamed } from "./memory-sdk.js";

const exporter = memorySdk();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function started(...services: Parameters<ServiceBroker["createService"]>[0][]) {
  const broker = new ServiceBroker({
    nodeID: `edge-${Math.random().toString(36).slice(2, 8)}`,
    logger: false,
    database: { url: "sqlite::memory:" },
  });
  for (const s of services) broker.createService(s);
  cleanups.push(() => broker.stop());
  await broker.start();
  return broker;
}

interface OrdersDB {
  orders: { id: string; total: number };
}

const migrations = {
  "001_orders": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("orders")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("total", "integer", (c) => c.notNull())
        .execute();
    },
  },
};

describe("spans at the edges: HTTP in, HTTP out, the database and the outbox", () => {
  it("an HTTP request through the gateway is one trace: a server span continuing the client's traceparent, then the call", async () => {
    const broker = await started(
      defineService({
        name: "users",
        actions: {
          get: {
            params: z.object({ id: z.coerce.number() }),
            rest: "GET /users/:id",
            visibility: "published",
            handler(ctx) {
              if (ctx.params.id === 0) throw new FlotillaError("no user 0", "USER_MISSING", 500);
              return { id: ctx.params.id };
            },
          },
        },
      }),
    );
    const gateway = await createGateway(broker, { prefix: "/api" });
    cleanups.push(() => gateway.close());
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await gateway.app.inject({
      method: "GET",
      url: "/api/users/7?x=1",
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.statusCode).toBe(200);
    const spans = exporter.getFinishedSpans();
    const http = spanNamed(spans, "GET /api/users/:id", SpanKind.SERVER);
    expect(http.spanContext().traceId).toBe(traceId);
    expect(parentOf(http)).toBe("00f067aa0ba902b7");
    expect(http.attributes).toMatchObject({
      "http.request.method": "GET",
      "http.route": "/api/users/:id",
      "url.path": "/api/users/7",
      "http.response.status_code": 200,
    });
    const client = spanNamed(spans, "users/get", SpanKind.CLIENT);
    const server = spanNamed(spans, "users/get", SpanKind.SERVER);
    expect(parentOf(client)).toBe(idOf(http));
    expect(parentOf(server)).toBe(idOf(client));

    exporter.reset();
    const failed = await gateway.app.inject({ method: "GET", url: "/api/users/0" });
    expect(failed.statusCode).toBe(500);
    const failedHttp = spanNamed(exporter.getFinishedSpans(), "GET /api/users/:id");
    expect(failedHttp.status.code).toBe(SpanStatusCode.ERROR);
    expect(failedHttp.attributes).toMatchObject({
      "http.response.status_code": 500,
      "error.type": "USER_MISSING",
    });
  });

  it("the HTTP client makes a client span per attempt and sends its traceparent", async () => {
    const seen: (string | undefined)[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.writeHead(seen.length === 1 ? 503 : 200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as AddressInfo).port;
    const http = createHttpClient({ baseUrl: `http://user:pw@127.0.0.1:${port}`, retryDelay: 1 });
    cleanups.push(() => http.close());
    const broker = await started(
      defineService({
        name: "weather",
        actions: { today: { handler: (ctx) => http.get("/today?key=secret", { ctx }) } },
      }),
    );
    await expect(broker.call("weather.today")).resolves.toEqual({ ok: true });
    const spans = exporter.getFinishedSpans().filter((s) => s.name === "GET");
    expect(spans).toHaveLength(2);
    const handler = spanNamed(exporter.getFinishedSpans(), "weather/today", SpanKind.SERVER);
    for (const [i, span] of spans.entries()) {
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(parentOf(span)).toBe(idOf(handler));
      expect(seen[i]).toBe(`00-${span.spanContext().traceId}-${idOf(span)}-01`);
      expect(span.attributes["url.full"]).toBe(`http://127.0.0.1:${port}/today`);
      expect(span.attributes["server.port"]).toBe(port);
    }
    expect(spans[0]!.attributes).toMatchObject({
      "http.response.status_code": 503,
      "error.type": "503",
    });
    expect(spans[1]!.attributes).toMatchObject({
      "http.response.status_code": 200,
      "http.request.resend_count": 1,
    });
  });

  it("queries in a traced handler get database spans without values; the outbox carries the trace to the handler", async () => {
    const handled: string[] = [];
    const orders = defineService({
      name: "orders",
      database: defineDatabase<OrdersDB>({ migrations, outbox: { pollInterval: 20 } }),
      actions: {
        place: {
          params: z.object({ id: z.string(), total: z.number() }),
          handler: (ctx) =>
            ctx.transaction(async (tx) => {
              await tx.db.insertInto("orders").values(ctx.params).execute();
              await tx.db
                .updateTable("orders")
                .set({ total: ctx.params.total + 1 })
                .where("id", "=", ctx.params.id)
                .execute();
              await tx.emit("orders.created", { id: ctx.params.id });
            }),
        },
      },
    });
    const email = defineService({
      name: "email",
      events: {
        "orders.created": {
          durable: true,
          handler(ctx) {
            handled.push(ctx.logger.bindings().trace_id as string);
          },
        },
      },
    });
    const broker = await started(orders, email);
    await broker.call("orders.place", { id: "o-1", total: 42 });
    await until(
      () =>
        handled.length === 1 &&
        exporter.getFinishedSpans().some((s) => s.name === "process orders.created"),
      {
        message: "the email handler's span",
      },
    );
    const spans = exporter.getFinishedSpans();
    const place = spanNamed(spans, "orders/place", SpanKind.SERVER);
    const insert = spanNamed(spans, "INSERT orders");
    expect(insert.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(insert)).toBe(idOf(place));
    expect(insert.attributes).toMatchObject({
      "db.system.name": "sqlite",
      "db.operation.name": "INSERT",
      "db.collection.name": "orders",
    });
    expect(String(insert.attributes["db.query.text"])).not.toContain("o-1");
    expect(String(insert.attributes["db.query.text"])).not.toContain("42");

    expect(spanNamed(spans, "UPDATE orders").attributes["db.collection.name"]).toBe("orders");
    const create = spanNamed(spans, "create orders.created", SpanKind.PRODUCER);
    const send = spanNamed(spans, "send orders.created", SpanKind.PRODUCER);
    const process = spanNamed(spans, "process orders.created", SpanKind.CONSUMER);
    expect(parentOf(create)).toBe(idOf(place));
    expect(parentOf(send)).toBe(idOf(create));
    expect(parentOf(process)).toBe(idOf(send));
    expect(
      new Set([place, insert, create, send, process].map((s) => s.spanContext().traceId)).size,
    ).toBe(1);
    expect(handled[0]).toBe(place.spanContext().traceId);
    // The relay's rounds (polling, or kicked by the commit) belong to no request: no spans.
    expect(spans.filter((s) => parentOf(s) === undefined).map((s) => s.name)).toEqual([
      "orders/place",
    ]);
    expect(
      spans
        .filter((s) => String(s.attributes["db.collection.name"]).includes("outbox"))
        .map((s) => s.name),
    ).toEqual(["INSERT flotilla_outbox"]);
  });
});
