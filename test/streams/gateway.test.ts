import { request } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Context, defineService } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { createGateway } from "../../src/gateway/index.js";
import { startBroker } from "../helpers.js";
import { digest, patternDigest, patternSource, TRANSPORTS } from "./fixtures.js";

// The gateway maps streams to HTTP bodies: an action that answers with a stream is a download,
// a request with an `application/octet-stream` body reaches the action as a stream (the path and
// query params in `ctx.meta.$params`) — here with the action on another node.

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const storage = defineService({
  name: "storage",
  actions: {
    get: {
      rest: "GET /files/:size",
      visibility: "published",
      handler: (ctx: Context<{ size: string }>) => patternSource(Number(ctx.params.size)).stream,
    },
    put: {
      rest: "PUT /files/:name",
      // A call's deadline covers reading its params: 1 GB takes longer than the default 10 s.
      timeout: 120_000,
      visibility: "published",
      handler: async (ctx: Context) => ({
        name: (ctx.meta.$params as { name?: string } | undefined)?.name,
        digest: await digest(ctx.params as unknown as Readable),
      }),
    },
  },
});

async function edgeAndStorage(): Promise<string> {
  const transporter = await TRANSPORTS[0].url((fn) => cleanups.push(fn));
  const namespace = `gw-streams-${Math.random().toString(36).slice(2)}`;
  await startBroker(storage, { nodeID: "storage", namespace, transporter });
  const edge = await startBroker([], { nodeID: "edge", namespace, transporter });
  await edge.waitForServices(["storage"], 10_000);
  const gateway = await createGateway(edge, { port: 0, host: "127.0.0.1" });
  cleanups.push(() => gateway.close());
  return gateway.listen();
}

/**
 * A PUT with a streamed body, piped with back-pressure (`node:http`: Node 20's `Readable.toWeb`
 * under `fetch` reads its source without waiting, which would hold the whole body in the client).
 */
function upload(
  url: string,
  body: Readable,
): Promise<{ status: number; json(): Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          json: async () => JSON.parse(Buffer.concat(chunks).toString("utf8")),
        }),
      );
    });
    pipeline(body, req).catch(reject);
  });
}

describe("streams through the gateway", () => {
  it("downloads a stream an action on another node returns", async () => {
    const url = await edgeAndStorage();
    const size = 4 * 1024 * 1024 + 5;
    const res = await fetch(`${url}/files/${size}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
    expect(await digest(body)).toBe(await patternDigest(size));
  });

  it("uploads a request body to an action on another node as a stream", async () => {
    const url = await edgeAndStorage();
    const size = 3 * 1024 * 1024 + 9;
    const res = await upload(`${url}/files/report.bin`, patternSource(size).stream);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: "report.bin", digest: await patternDigest(size) });
  });

  it("carries 1 GB through a node in bounded memory", async () => {
    const url = await edgeAndStorage();
    const size = 1024 ** 3;
    const before = process.memoryUsage().rss;
    let peak = before;
    let buffers = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      buffers = Math.max(buffers, m.arrayBuffers);
    }, 20);
    cleanups.push(() => clearInterval(sampler));
    const res = await upload(`${url}/files/big.bin`, patternSource(size).stream);
    clearInterval(sampler);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { digest: string };
    expect(answer.digest.startsWith(`${size}:`)).toBe(true);
    // The client, the gateway node and the storage node all live in this process: together they
    // held a few MiB at a time, not the gigabyte.
    expect(buffers).toBeLessThan(128 * 1024 * 1024);
    expect(peak - before).toBeLessThan(256 * 1024 * 1024);
  }, 120_000);
});
