import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { defineService } from "flotilla";
import { describe, expect, it } from "vitest";
import { onCleanup, setup, users } from "./fixtures.js";

const big = defineService({
  name: "reports",
  actions: {
    big: {
      rest: "GET /report",
      visibility: "published",
      handler: () => ({
        rows: Array.from({ length: 200 }, (_, i) => ({ i, text: "lorem ipsum" })),
      }),
    },
  },
});

describe("gateway edge concerns", () => {
  it("carries a valid traceparent (and tracestate) into the call headers", async () => {
    const { gateway } = await setup();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await gateway.app.inject({
      method: "POST",
      url: "/echo/1",
      headers: { traceparent, tracestate: "shop=1" },
      payload: {},
    });
    expect(res.json().headers).toEqual({ traceparent, tracestate: "shop=1" });
    const bad = await gateway.app.inject({
      method: "POST",
      url: "/echo/1",
      headers: { traceparent: "nonsense" },
      payload: {},
    });
    expect(bad.json().headers).toBeNull();
  });

  it("answers CORS preflights and tags answers when cors is on", async () => {
    const { gateway } = await setup({ cors: { origin: ["https://shop.example"] } });
    const preflight = await gateway.app.inject({
      method: "OPTIONS",
      url: "/users",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST" },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("https://shop.example");
    const res = await gateway.app.inject({
      url: "/users/1",
      headers: { origin: "https://shop.example" },
    });
    expect(res.headers["access-control-allow-origin"]).toBe("https://shop.example");
  });

  it("limits requests per client with a 429 problem", async () => {
    const { gateway } = await setup({ rateLimit: { max: 2, timeWindow: 60_000 } });
    const hit = (ip: string) => gateway.app.inject({ url: "/users/1", remoteAddress: ip });
    expect((await hit("10.0.0.1")).statusCode).toBe(200);
    expect((await hit("10.0.0.1")).statusCode).toBe(200);
    const limited = await hit("10.0.0.1");
    expect(limited.statusCode).toBe(429);
    expect(limited.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(limited.headers["retry-after"]).toBeDefined();
    expect(limited.json()).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    expect((await hit("10.0.0.2")).statusCode).toBe(200);
  });

  const plain = (body: Buffer) => body;
  it.each([
    {
      what: "gzip to a client that accepts it",
      accept: "gzip",
      encoding: "gzip",
      decode: gunzipSync,
    },
    { what: "brotli first", accept: "gzip, br", encoding: "br", decode: brotliDecompressSync },
    {
      what: "deflate once q=0 refuses br and gzip",
      accept: "br;q=0, gzip;q=0, *",
      encoding: "deflate",
      decode: inflateSync,
    },
    { what: "uncompressed to a client that asks for none", encoding: undefined, decode: plain },
    {
      what: "uncompressed when compress is off",
      options: { compress: false },
      accept: "gzip",
      encoding: undefined,
      decode: plain,
    },
  ])("sends a large answer $what", async ({ accept, options, encoding, decode }) => {
    const { gateway } = await setup(options ?? {}, [big]);
    const headers = accept === undefined ? {} : { "accept-encoding": accept };
    const res = await gateway.app.inject({ url: "/report", headers });
    expect(res.headers["content-encoding"]).toBe(encoding);
    if (encoding !== undefined) expect(res.headers.vary).toBe("accept-encoding");
    expect(JSON.parse(decode(res.rawPayload).toString()).rows).toHaveLength(200);
  });

  it("compresses the docs page's own files too", async () => {
    const { gateway } = await setup();
    const docs = await gateway.app.inject({
      url: "/docs/docs.js",
      headers: { "accept-encoding": "gzip" },
    });
    expect(docs.headers["content-encoding"]).toBe("gzip");
  });

  it("serves static files beside the action routes", async () => {
    const root = mkdtempSync(join(tmpdir(), "flotilla-static-"));
    onCleanup(async () => rmSync(root, { recursive: true, force: true }));
    writeFileSync(join(root, "index.html"), "<h1>shop</h1>");
    writeFileSync(join(root, "app.js"), "console.log(1)");
    const { gateway } = await setup({ static: { root } }, [users]);
    const index = await gateway.app.inject({ url: "/" });
    expect(index.statusCode).toBe(200);
    expect(index.body).toBe("<h1>shop</h1>");
    expect(index.headers["content-type"]).toMatch(/^text\/html/);
    expect((await gateway.app.inject({ url: "/app.js" })).body).toBe("console.log(1)");
    expect((await gateway.app.inject({ url: "/users/1" })).json()).toEqual({ id: 1, name: "Ada" });
    const missing = await gateway.app.inject({ url: "/nope.css" });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    const traversal = await gateway.app.inject({ url: "/%2e%2e/%2e%2e/etc/passwd" });
    expect(traversal.statusCode).toBeGreaterThanOrEqual(400);
    expect(traversal.body).not.toMatch(/root:/);
  });

  it("serves static files under their own prefix only", async () => {
    const root = mkdtempSync(join(tmpdir(), "flotilla-static-"));
    onCleanup(async () => rmSync(root, { recursive: true, force: true }));
    writeFileSync(join(root, "logo.svg"), "<svg/>");
    const { gateway } = await setup({ static: { root, prefix: "/assets" } });
    expect((await gateway.app.inject({ url: "/assets/logo.svg" })).body).toBe("<svg/>");
    expect((await gateway.app.inject({ url: "/logo.svg" })).statusCode).toBe(404);
  });
});
