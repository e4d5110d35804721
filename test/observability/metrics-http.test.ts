import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { defineService } from "flotilla";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/index.js";
import { createGateway } from "../../src/gateway/index.js";
import { startHealthServer } from "../../src/observability/health-server.js";
import { freePort, until } from "../harness/index.js";
import { startBroker } from "../helpers.js";
import { parseExposition } from "./fixtures/metrics/exposition.js";

// Where metrics are served: the health server's /metrics (what `flotilla run --health-port`
// starts), and the gateway's when asked.

const ping = defineService({
  name: "ping",
  actions: { pong: { rest: "GET /pong", visibility: "published", handler: () => "pong" } },
});
const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => new Promise((done) => s.close(() => done(undefined)))),
  );
});

async function healthServer(source: Parameters<typeof startHealthServer>[0]): Promise<string> {
  const port = await freePort();
  servers.push(await startHealthServer(source, { port, host: "127.0.0.1" }));
  return `http://127.0.0.1:${port}`;
}

describe("the health server's /metrics", () => {
  it("serves the broker's exposition next to the probes", async () => {
    const broker = await startBroker(ping, { metrics: { processMetrics: false } });
    await broker.call("ping.pong");
    const base = await healthServer(broker);

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(CONTENT_TYPE);
    const samples = parseExposition(await res.text());
    expect(
      samples.find((s) => s.name === "flotilla_calls_made_total" && s.labels.action === "ping.pong")
        ?.value,
    ).toBe(1);
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(404);
  });

  it("answers 404 when the broker has no metrics, and 500 when collecting fails", async () => {
    const broker = await startBroker(ping, { metrics: false });
    const base = await healthServer(broker);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found" });
    expect((await fetch(`${base}/health/live`)).status).toBe(200);

    const failing = await healthServer({
      health: () => broker.health(),
      metrics: {
        contentType: CONTENT_TYPE,
        text: () => Promise.reject(new Error("collector broke")),
      },
    });
    const broken = await fetch(`${failing}/metrics`);
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ error: "collector broke" });
  });
});

describe("the gateway's /metrics", () => {
  it("serves the broker's metrics on /metrics with metrics: true, or on the path given", async () => {
    const broker = await startBroker(ping, { metrics: { processMetrics: false } });
    const gateway = await createGateway(broker, { metrics: true });
    try {
      expect((await gateway.app.inject({ method: "GET", url: "/pong" })).statusCode).toBe(200);
      const res = await gateway.app.inject({ method: "GET", url: "/metrics" });
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toBe(CONTENT_TYPE);
      const samples = parseExposition(res.body);
      // The gateway's call went through broker.call: counted caller side.
      expect(
        samples.find(
          (s) =>
            s.name === "flotilla_calls_made_total" &&
            s.labels.action === "ping.pong" &&
            s.labels.code === "OK",
        )?.value,
      ).toBe(1);
      // Not an action route: not in the OpenAPI document.
      expect(Object.keys(gateway.openapi().paths)).not.toContain("/metrics");
    } finally {
      await gateway.close();
    }

    const custom = await createGateway(broker, { metrics: "/internal/metrics" });
    try {
      expect(
        (await custom.app.inject({ method: "GET", url: "/internal/metrics" })).statusCode,
      ).toBe(200);
      expect((await custom.app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(404);
    } finally {
      await custom.close();
    }
  });

  it("answers a 404 problem when the broker has no metrics, and serves none unless asked", async () => {
    const plain = await startBroker(ping, { metrics: false });
    const gateway = await createGateway(plain, { metrics: true });
    try {
      const res = await gateway.app.inject({ method: "GET", url: "/metrics" });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: "NOT_FOUND", status: 404 });
    } finally {
      await gateway.close();
    }
    const metered = await startBroker(ping, { metrics: { processMetrics: false } });
    const quiet = await createGateway(metered);
    try {
      expect((await quiet.app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(404);
    } finally {
      await quiet.close();
    }
  });
});

describe("flotilla run --health-port, in process", () => {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const service = fileURLToPath(new URL("./fixtures/metrics/math.ts", import.meta.url));

  /** Runs `flotilla run` here; `stop()` sends it a stop signal (to its own listeners only). */
  async function run(args: string[], env: Record<string, string> = {}) {
    const before = new Map(signals.map((s) => [s, process.listeners(s)]));
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const exit = main(["run", service, "--log-level", "silent", ...args]);
    const added = (s: (typeof signals)[number]) =>
      process.listeners(s).filter((l) => !before.get(s)!.includes(l));
    await until(() => added("SIGTERM").length > 0, { message: "run's signal handlers" });
    return {
      exit,
      async stop(): Promise<number> {
        for (const listener of added("SIGTERM")) (listener as (s: string) => void)("SIGTERM");
        const code = await exit;
        // What run leaves for a second signal (exit at once) is not this test process's.
        for (const s of signals) for (const l of added(s)) process.off(s, l);
        vi.restoreAllMocks();
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
        return code;
      },
    };
  }

  it("turns metrics on and serves them on /metrics", async () => {
    const port = await freePort();
    const bus = `memory://metrics-cli-${randomUUID()}`;
    const node = await run([
      "-t",
      bus,
      "--node-id",
      "cli-metered",
      "--health-port",
      String(port),
      "--health-host",
      "127.0.0.1",
    ]);
    try {
      const caller = await startBroker([], { transporter: bus, nodeID: "cli-caller" });
      await caller.waitForServices("metered", 10_000);
      await expect(caller.call("metered.add", { a: 2, b: 3 })).resolves.toBe(5);
      const samples = await until(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        return res.status === 200 && parseExposition(await res.text());
      });
      expect(
        samples.find(
          (s) =>
            s.name === "flotilla_calls_handled_total" &&
            s.labels.action === "metered.add" &&
            s.labels.caller === "cli-caller",
        )?.value,
      ).toBe(1);
      expect(samples.some((s) => s.name === "flotilla_process_cpu_seconds_total")).toBe(true);
    } finally {
      expect(await node.stop()).toBe(0);
    }
  });

  it("serves no metrics with FLOTILLA_METRICS=0", async () => {
    const port = await freePort();
    const node = await run(
      [
        "-t",
        `memory://metrics-cli-${randomUUID()}`,
        "--health-port",
        String(port),
        "--health-host",
        "127.0.0.1",
      ],
      { FLOTILLA_METRICS: "0" },
    );
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok, {
        message: "the node ready",
      });
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    } finally {
      expect(await node.stop()).toBe(0);
    }
  });
});
