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
import { afterEach, describe, expect, it, vi } from "vitest";
import { createHttpClient, type HttpClient, HttpError } from "../../src/http/index.js";
import { until } from "../harness/index.js";

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
  vi.useRealTimers();
  vi.restoreAllMocks();
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

/**
 * A fake clock for the client's waits (its backoff and its deadline timers; the sockets stay
 * real), and no jitter: each backoff wait is its whole `retryDelay * 2^attempt`.
 */
function fakeClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  vi.spyOn(Math, "random").mockReturnValue(1);
}

/** Hits on `path` so far. */
const hitsOf = (up: Upstream, path: string) => up.hits.get(path) ?? 0;

/**
 * Checks that `path` is hit again only once each wait of `waits` (ms) has passed on the fake
 * clock: after each hit, one ms short of the wait nothing is sent; at the wait, the next hit comes.
 */
async function expectRetriesAfter(up: Upstream, path: string, waits: number[]): Promise<void> {
  for (const [i, wait] of waits.entries()) {
    await until(() => hitsOf(up, path) === i + 1, { message: `hit ${i + 1} of ${path}` });
    await vi.advanceTimersByTimeAsync(wait - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(hitsOf(up, path)).toBe(i + 1);
    await vi.advanceTimersByTimeAsync(1);
  }
  await until(() => hitsOf(up, path) === waits.length + 1, { message: `the last hit of ${path}` });
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

  it("retries idempotent requests on 502/503/504 with backoff, or after Retry-After", async () => {
    const answers = [
      [503, { "retry-after": "1" }],
      [502, {}],
      [504, {}],
    ] as const;
    const up = await upstream({
      "/flaky": (_req, res) => {
        const [status, headers] = answers[hitsOf(up, "/flaky") - 1] ?? [200, {}];
        json(res, status, status === 200 ? { ok: true } : {}, headers);
      },
    });
    fakeClock();
    const http = client({ baseUrl: up.url, retries: 3, retryDelay: 100 });
    const answer = http.get("/flaky");
    // Retry-After: 1 s; then backoff doubling from 100 ms (attempts 1 and 2).
    await expectRetriesAfter(up, "/flaky", [1_000, 200, 400]);
    expect(await answer).toEqual({ ok: true });
    expect(hitsOf(up, "/flaky")).toBe(4);
  });

  it("gives up after the retries with the last answer", async () => {
    const up = await upstream({ "/down": (_req, res) => json(res, 502, {}) });
    fakeClock();
    const http = client({ baseUrl: up.url, retries: 2, retryDelay: 100 });
    const failed = http.delete("/down").catch((e: unknown) => e);
    await expectRetriesAfter(up, "/down", [100, 200]);
    expect(await failed).toMatchObject({ code: "HTTP_502", retryable: true });
    expect(hitsOf(up, "/down")).toBe(3);
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

  it("retries a GET whose connection broke, after its backoff", async () => {
    const up = await upstream({
      "/reset": (req, res) =>
        hitsOf(up, "/reset") === 1 ? req.socket.destroy() : json(res, 200, "ok"),
    });
    fakeClock();
    const http = client({ baseUrl: up.url, retryDelay: 100 });
    const answer = http.get("/reset");
    await expectRetriesAfter(up, "/reset", [100]);
    expect(await answer).toBe("ok");
    expect(hitsOf(up, "/reset")).toBe(2);
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

  it("maps a request that outlives its budget to RequestTimeoutError, at the budget", async () => {
    const up = await upstream({ "/hang": () => {} });
    fakeClock();
    const http = client({ baseUrl: up.url, timeout: 100 });
    let settled = false;
    const failed = http.get("/hang").catch((e: unknown) => e);
    void failed.then(() => {
      settled = true;
    });
    await until(() => hitsOf(up, "/hang") === 1, { message: "the request to arrive" });
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await failed;
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect(err).toMatchObject({ code: "REQUEST_TIMEOUT", status: 504 });
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
