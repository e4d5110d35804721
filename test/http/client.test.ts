import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  defineService,
  FlotillaError,
  RequestTimeoutError,
  ServiceNotAvailableError,
} from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpClient, type HttpClient, HttpError } from "../../src/http/index.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Upstream {
  url: string;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  connections: number;
  server: Server;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A local upstream on 127.0.0.1 that answers by path. */
async function upstream(routes: Record<string, Handler>): Promise<Upstream> {
  const state = { hits: new Map<string, number>(), connections: 0 };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    let body = "";
    for await (const chunk of req) body += chunk;
    const handler = routes[path];
    if (handler === undefined) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"nope"}');
      return;
    }
    handler(req, res, body);
  });
  server.on("connection", () => {
    state.connections += 1;
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: state.hits,
    server,
    get connections() {
      return state.connections;
    },
  };
}

function client(options: Parameters<typeof createHttpClient>[0]): HttpClient {
  const c = createHttpClient({ retryDelay: 5, ...options });
  cleanups.push(() => c.close());
  return c;
}

const json = (
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
) =>
  res
    .writeHead(status, { "content-type": "application/json", ...headers })
    .end(JSON.stringify(value));

describe("HTTP client", () => {
  it("gets JSON with query parameters over one kept-alive connection", async () => {
    const up = await upstream({
      "/items": (req, res) =>
        json(res, 200, { url: req.url, accept: req.headers.accept, key: req.headers["x-api-key"] }),
    });
    const http = client({ baseUrl: `${up.url}/`, headers: { "X-Api-Key": "k" } });
    for (let i = 0; i < 10; i++) {
      const data = await http.get<{ url: string }>("/items", {
        query: { page: i, tag: ["a", "b"], skip: undefined },
      });
      expect(data).toEqual({
        url: `/items?page=${i}&tag=a&tag=b`,
        accept: "application/json",
        key: "k",
      });
    }
    // Kept alive: far fewer connections than requests (undici may open a second one while the
    // first is still being released).
    expect(up.connections).toBeLessThanOrEqual(2);
  });

  it("posts JSON and returns status, headers and data from request()", async () => {
    const up = await upstream({
      "/echo": (req, res, body) =>
        json(
          res,
          201,
          { type: req.headers["content-type"], body: JSON.parse(body) },
          { "x-id": "9" },
        ),
    });
    const http = client({ baseUrl: up.url });
    expect(await http.post("/echo", { a: 1 })).toEqual({
      type: "application/json",
      body: { a: 1 },
    });
    const res = await http.request("PUT", "/echo", { json: [1] });
    expect(res.status).toBe(201);
    expect(res.headers["x-id"]).toBe("9");
  });

  it("turns 4xx/5xx answers into HttpError with code HTTP_<status>", async () => {
    const up = await upstream({ "/bad": (_req, res) => json(res, 409, { reason: "taken" }) });
    const http = client({ baseUrl: up.url });
    const err = await http.post("/bad", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toBeInstanceOf(FlotillaError);
    expect(err).toMatchObject({
      code: "HTTP_409",
      status: 409,
      retryable: false,
      body: { reason: "taken" },
    });
    await expect(http.get("/missing")).rejects.toMatchObject({ code: "HTTP_404", status: 404 });
  });

  it("retries idempotent requests on 502/503/504 with backoff", async () => {
    const up = await upstream({
      "/flaky": (_req, res) =>
        (up.hits.get("/flaky") ?? 0) < 3
          ? json(res, 503, {}, { "retry-after": "0" })
          : json(res, 200, { ok: true }),
    });
    const http = client({ baseUrl: up.url, retries: 3 });
    expect(await http.get("/flaky")).toEqual({ ok: true });
    expect(up.hits.get("/flaky")).toBe(3);
  });

  it("gives up after the retries with the last answer", async () => {
    const up = await upstream({ "/down": (_req, res) => json(res, 502, {}) });
    const http = client({ baseUrl: up.url, retries: 2 });
    await expect(http.delete("/down")).rejects.toMatchObject({ code: "HTTP_502", retryable: true });
    expect(up.hits.get("/down")).toBe(3);
  });

  it("does not retry a POST that reached the server", async () => {
    const up = await upstream({ "/pay": (_req, res) => json(res, 503, {}) });
    const http = client({ baseUrl: up.url, retries: 3 });
    await expect(http.post("/pay", { cents: 100 })).rejects.toMatchObject({ status: 503 });
    expect(up.hits.get("/pay")).toBe(1);
    await expect(http.post("/pay", {}, { idempotent: true })).rejects.toMatchObject({
      status: 503,
    });
    expect(up.hits.get("/pay")).toBe(5);
  });

  it("retries a GET whose connection broke", async () => {
    const up = await upstream({
      "/reset": (req, res) =>
        (up.hits.get("/reset") ?? 0) === 1 ? req.socket.destroy() : json(res, 200, "ok"),
    });
    const http = client({ baseUrl: up.url });
    expect(await http.get("/reset")).toBe("ok");
    expect(up.hits.get("/reset")).toBe(2);
  });

  it("maps a refused connection to ServiceNotAvailableError", async () => {
    const up = await upstream({});
    const url = up.url;
    up.server.close();
    await once(up.server, "close");
    const http = client({ baseUrl: url, retries: 1 });
    const err = await http.post("/x", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceNotAvailableError);
    expect(err).toMatchObject({
      code: "SERVICE_NOT_AVAILABLE",
      status: 503,
      data: { code: "ECONNREFUSED" },
    });
  });

  it("maps a request that outlives its budget to RequestTimeoutError", async () => {
    const up = await upstream({ "/hang": () => {} });
    const http = client({ baseUrl: up.url, timeout: 100 });
    const started = Date.now();
    const err = await http.get("/hang").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect(err).toMatchObject({ code: "REQUEST_TIMEOUT", status: 504 });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("rejects with the reason when the caller aborts", async () => {
    const up = await upstream({ "/hang": () => {} });
    const http = client({ baseUrl: up.url });
    const controller = new AbortController();
    const pending = http.get("/hang", { signal: controller.signal });
    controller.abort(new Error("user left"));
    await expect(pending).rejects.toThrow("user left");
  });

  it("carries the request ID and trace headers of a context, within its deadline", async () => {
    const up = await upstream({
      "/who": (req, res) =>
        json(res, 200, { id: req.headers["x-request-id"], tp: req.headers.traceparent }),
      "/hang": () => {},
    });
    const http = client({ baseUrl: up.url, timeout: 10_000 });
    const broker = createTestBroker();
    cleanups.push(() => broker.stop());
    broker.createService(
      defineService({
        name: "proxy",
        actions: {
          who: { handler: (ctx) => http.get("/who", { ctx }) },
          hang: { handler: (ctx) => http.get("/hang", { ctx }) },
        },
      }),
    );
    await broker.start();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const seen = await broker.call(
      "proxy.who",
      {},
      { requestID: "req-7", headers: { traceparent } },
    );
    expect(seen).toEqual({ id: "req-7", tp: traceparent });
    await expect(broker.call("proxy.hang", {}, { timeout: 80 })).rejects.toBeInstanceOf(
      RequestTimeoutError,
    );
  });
});
