import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineDatabase, defineService, FlotillaError, ServiceBroker } from "flotilla";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startHealthServer } from "../../src/observability/health-server.js";
import { freePort, until } from "../harness/index.js";
import { deferred, startBroker } from "../helpers.js";

// The exposition as Prometheus itself reads it: a private Prometheus server scrapes a node's
// health server every second and answers PromQL over what it scraped; promtool lints a real
// exposition. Debian's `prometheus` package provides both (.ci/run installs it); without it
// these tests fail, they never skip.

const PROMETHEUS = "/usr/bin/prometheus";
const PROMTOOL = "/usr/bin/promtool";
const INSTALL = "apt-get install prometheus";

const math = defineService({
  name: "math",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      handler: async (ctx) => ctx.params.a + ctx.params.b,
    },
    refuse: {
      handler() {
        throw new FlotillaError("Not today.", "NOT_TODAY", 409);
      },
    },
  },
});

describe("a real Prometheus server scraping a node's /metrics", () => {
  let dir = "";
  let prometheus: ChildProcess | undefined;
  let api = "";
  let log = "";
  let broker: ServiceBroker;
  let health: Server | undefined;

  beforeAll(async () => {
    expect(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: ${INSTALL}`).toBe(true);
    // Not a test broker: it lives for the whole file, not one test.
    broker = new ServiceBroker({ logger: false, metrics: true, nodeID: "scraped" });
    broker.createService(math);
    await broker.start();
    const healthPort = await freePort();
    health = await startHealthServer(broker, { port: healthPort, host: "127.0.0.1" });

    dir = mkdtempSync(join(tmpdir(), "flotilla-prometheus-"));
    const config = join(dir, "prometheus.yml");
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: flotilla",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${healthPort}"]`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.console.templates=${join(dir, "consoles")}`,
        `--web.console.libraries=${join(dir, "console_libraries")}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr?.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<void>((_, reject) =>
      prometheus?.once("exit", (code) => reject(new Error(`prometheus exited (${code}): ${log}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      until(async () => (await fetch(`${api}/-/ready`).catch(() => undefined))?.ok, {
        timeout: 20_000,
        message: "Prometheus ready",
      }),
      exited,
    ]);
  });

  afterAll(async () => {
    const child = prometheus;
    if (child !== undefined && child.exitCode === null) {
      const gone = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await gone;
    }
    await new Promise((done) => (health ? health.close(() => done(undefined)) : done(undefined)));
    await broker?.stop();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  /** The value of the first series a PromQL query returns, if any. */
  async function query(promql: string): Promise<number | undefined> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data: { result: { value: [number, string] }[] };
    };
    if (body.status !== "success") throw new Error(`${promql}: ${body.error}`);
    const first = body.data.result[0];
    return first === undefined ? undefined : Number(first.value[1]);
  }

  /** Calls made while waiting, so rates have something to show between scrapes. */
  async function traffic(): Promise<void> {
    for (let i = 0; i < 20; i++) await broker.call("math.add", { a: i, b: 1 });
    await broker.call("math.refuse").catch(() => undefined);
  }

  it("scrapes the target and counts the calls it handled", async () => {
    await until(async () => (await query('up{job="flotilla"}')) === 1, {
      timeout: 20_000,
      interval: 200,
      message: `the target up (${log})`,
    });
    const handled = await until(
      async () => {
        await traffic();
        const value = await query(
          'flotilla_calls_handled_total{job="flotilla",action="math.add",code="OK"}',
        );
        return value !== undefined && value >= 40 && value;
      },
      { timeout: 30_000, interval: 200, message: "the call counter in Prometheus" },
    );
    expect(handled).toBeGreaterThanOrEqual(40);
    await until(
      async () =>
        (await query('flotilla_calls_handled_total{action="math.refuse",code="NOT_TODAY"}')) ?? 0,
      { timeout: 30_000, interval: 200, message: "the refused calls in Prometheus" },
    );
  });

  it("answers a latency quantile from the histogram's buckets", async () => {
    const promql =
      'histogram_quantile(0.5, sum by (le) (rate(flotilla_handler_duration_seconds_bucket{action="math.add"}[30s])))';
    const median = await until(
      async () => {
        await traffic();
        const value = await query(promql);
        return value !== undefined && Number.isFinite(value) && value > 0 && value;
      },
      { timeout: 30_000, interval: 200, message: "a median latency from Prometheus" },
    );
    // Local calls: well under the first buckets' bounds (0.5 ms, 1 ms), never over the top one.
    expect(median).toBeLessThanOrEqual(10);
    // A caller-side series starts with the first call: rated once two scrapes have it.
    await until(
      async () => {
        await traffic();
        return (await query('sum(rate(flotilla_calls_made_total{action="math.add"}[30s]))')) ?? 0;
      },
      { timeout: 30_000, interval: 200, message: "a rate of calls made from Prometheus" },
    );
    expect(await query("flotilla_process_resident_memory_bytes")).toBeGreaterThan(0);
  });
});

describe("promtool check metrics", () => {
  it("passes on the exposition of a node with calls, errors, events, a database and two peers", async () => {
    expect(existsSync(PROMTOOL), `${PROMTOOL} is missing: ${INSTALL}`).toBe(true);
    const bus = `memory://promtool-${randomUUID()}`;
    const gate = deferred();
    let handled = 0;
    const done = deferred();
    const broker = await startBroker(
      [
        math,
        defineService({
          name: "shop",
          database: defineDatabase({ outbox: { relay: false, pollInterval: 10 } }),
          actions: {
            order: {
              bulkhead: { concurrency: 1, queue: 0 },
              async handler(ctx) {
                await ctx.transaction((tx) => tx.emit("shop.ordered", { id: 1 }));
                await gate.promise;
                return "ok";
              },
            },
          },
          events: {
            "shop.*": { handler() {} },
            "shop.paid": {
              durable: true,
              maxRetries: 1,
              backoff: { delay: 1, maxDelay: 2, factor: 2 },
              handler() {
                handled++;
                if (handled === 2) done.resolve();
                throw new Error("never works");
              },
            },
          },
        }),
      ],
      { metrics: true, transporter: bus, nodeID: "linted" },
    );
    const peer = await startBroker(math, { metrics: true, transporter: bus, nodeID: "peer" });
    await peer.waitForServices("shop", 5_000);

    await broker.call("math.add", { a: 1, b: 2 });
    await peer.call("math.add", { a: 1, b: 2 }, { nodeID: "linted" });
    await broker.call("math.refuse").catch(() => undefined);
    const first = broker.call("shop.order");
    await broker.call("shop.order").catch(() => undefined); // shed: QUEUE_FULL
    gate.resolve();
    await first;
    await broker.emit("shop.paid", { id: 1 });
    // A label value that needs escaping: quotes, a backslash, a newline.
    await broker.emit('odd "event" \\ with\na newline', {});
    await done.promise;
    await until(
      async () => ((await broker.metrics!.text()).match(/dead_letters_total\{/) ? 1 : 0),
      {
        message: "a dead letter counted",
      },
    );

    const text = await broker.metrics!.text();
    expect(text).toContain('flotilla_outbox_backlog{service="shop"}');
    expect(text).toContain('event="odd \\"event\\" \\\\ with\\na newline"');
    const { code, stdout, stderr } = await promtool(text);
    expect({ code, problems: `${stdout}${stderr}` }).toEqual({ code: 0, problems: "" });
    expect((await promtool(await peer.metrics!.text())).code).toBe(0);
  });
});

/** Runs `promtool check metrics` on `text`. */
function promtool(text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, ["check", "metrics"], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(text);
  });
}
