// The whole demo shop under load: checkouts per second and their latency through the gateway.
// Each run starts the shop as `npm start` does (examples/shop/start.ts as a child process: the
// mailbox, users, products, coupons, orders, email and the gateway, each its own process) on free
// ports, with a fresh temporary data directory and a broker namespace of its own, seeded. The
// bench then logs in as the seeded admin, creates a product with 1,000,000 in stock, registers
// and logs in one user per client, and runs the clients: each sends `POST /api/orders` (one unit
// of that product, no coupon) with its own token, one request at a time, as fast as answers
// come, for a warm-up and then a fixed window. Two setups:
//   tcp+sqlite      the embedded tcp:// transporter, a SQLite file per service (npm start's defaults)
//   nats+postgres   nats://127.0.0.1:4222 (JetStream), PostgreSQL in a database of its own
//                   (bench_shop_<pid>_<round>_b, created here and dropped after, with the
//                   namespace's JetStream streams)
// Setups alternate within each round (ABBA); figures are medians of the rounds, with min–max.
// Outcomes are counted apart: confirmed orders (the throughput), rejected orders (a 2xx answer
// whose order is `rejected`, with its reason) and errors (non-2xx answers, failed requests).
// The product's stock is checked against the confirmed orders after each run.
//
// To say what limits throughput, each run also records: the CPU time of every process on the
// machine over the window, from /proc (the shop's nodes, PostgreSQL, NATS, this load generator,
// and whatever else ran), and over a few idle seconds before the load; on PostgreSQL, commits/s
// and what the bench database's connections were doing (pg_stat_activity, sampled every 200 ms);
// and how far the work behind a checkout had got when the load stopped (events left in orders'
// outbox, confirmation mails stored by the mailbox), then how long the mails took to catch up.
//
// Run: npm run bench:shop   (results: bench/results/shop.json; write-up: bench/shop/README.md)
// Knobs: BENCH_MS window (15000), BENCH_WARMUP_MS (3000), BENCH_ROUNDS (3), BENCH_CLIENTS (64),
// BENCH_SETUPS ("tcp+sqlite,nats+postgres"), PG_URL (postgres://postgres@127.0.0.1:5432/test:
// where the bench's database is created), NATS_URL (nats://127.0.0.1:4222), BENCH_MAX_LOAD (2:
// before each run, wait while the 1-minute load average is above it, 15 minutes at most in all),
// BENCH_PRODUCTS (1: client i buys product i mod n, to take the hot row out of the picture),
// BENCH_IDLE_MS (3000), BENCH_RESULT (results file name, default "shop").
//
// The gateway limits each client address to 1,200 requests a minute (and 10 logins): each client
// connects from its own loopback address (127.0.1.<n>), so the limit is per client as it would be
// for real buyers. With the default 18 s of load that allows ~4,200 checkouts/s in all; with a
// window over a minute, ~1,280/s (a 429 would be counted as an error).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
// An HDR histogram (installed with autocannon, which the gateway benchmark uses).
import * as hdr from "hdr-histogram-js";
import pg from "pg";
import { Client } from "undici";
import { durableNames } from "../../src/transporters/nats/durable-names.js";
import { type Row, report } from "../lib.js";

const WINDOW = Number(process.env.BENCH_MS ?? 15_000);
const WARMUP = Number(process.env.BENCH_WARMUP_MS ?? 3_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const MAX_LOAD = Number(process.env.BENCH_MAX_LOAD ?? 2);
/** Products the clients buy (client i buys product i mod n); 1: every client the same one. */
const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 1);
/** How long the shop's CPU use is read with no load, before the warm-up. */
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 3_000);
/** The results file: bench/results/<name>.json. */
const RESULT = process.env.BENCH_RESULT ?? "shop";
/** The most this run waits, in all, for a quieter machine before its runs. */
const QUIET_BUDGET = 15 * 60_000;
const STARTUP_TIMEOUT = 180_000;
const STOP_TIMEOUT = 60_000;
const STOCK = 1_000_000;

type SetupName = "tcp+sqlite" | "nats+postgres";
const SETUPS = (process.env.BENCH_SETUPS ?? "tcp+sqlite,nats+postgres")
  .split(",")
  .map((s) => s.trim()) as SetupName[];
if (CLIENTS < 1 || CLIENTS > 254) throw new RangeError("BENCH_CLIENTS must be 1 to 254");
if (PRODUCTS < 1 || PRODUCTS > CLIENTS)
  throw new RangeError("BENCH_PRODUCTS must be 1 to BENCH_CLIENTS");

const root = fileURLToPath(new URL("../../", import.meta.url));
const startScript = join(root, "examples/shop/start.ts");
const CLOCK_TICKS = 100; // USER_HZ on Linux
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- The machine: load, CPU time per process. --------------------------------------------------
let quietWaited = 0;
/** Waits while the 1-minute load is above MAX_LOAD, within the run's budget; returns the load. */
async function waitQuiet(what: string): Promise<{ load: number; waitedMs: number }> {
  const started = Date.now();
  let said = false;
  while ((loadavg()[0] ?? 0) > MAX_LOAD && quietWaited + (Date.now() - started) < QUIET_BUDGET) {
    if (!said) {
      console.log(
        `  load ${loadavg()[0]?.toFixed(2)} > ${MAX_LOAD}: waiting before ${what} (${Math.round((QUIET_BUDGET - quietWaited) / 1000)} s of waiting left)`,
      );
      said = true;
    }
    await sleep(5_000);
  }
  const waitedMs = Date.now() - started;
  quietWaited += waitedMs;
  const load = +(loadavg()[0] ?? 0).toFixed(2);
  if (said) console.log(`  load ${load} after ${Math.round(waitedMs / 1000)} s`);
  return { load, waitedMs };
}

/** [busy, total] jiffies of the whole machine. */
function machineTicks(): [number, number] {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return [total - idle, total];
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  args: string[];
  ticks: number;
}

/** Every process's CPU time so far (user + system jiffies), parent and command line. */
function processes(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const rest = stat.slice(close + 2).split(" ");
      // After the comm: state(3) ppid(4) … utime(14) stime(15), counted from 1 in proc(5).
      const ticks = Number(rest[11]) + Number(rest[12]);
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      all.set(Number(entry), { pid: Number(entry), ppid: Number(rest[1]), comm, args, ticks });
    } catch {
      // Gone meanwhile.
    }
  }
  return all;
}

/** What a process is, for the CPU table: a node of this shop, its database, the broker, … */
function labelOf(p: Proc, all: Map<number, Proc>, shopPid: number, database?: string): string {
  if (p.pid === process.pid) return "bench client (load generator)";
  let ancestor: Proc | undefined = p;
  for (let hops = 0; ancestor !== undefined && hops < 8; hops++) {
    if (ancestor.ppid === shopPid || ancestor.pid === shopPid) break;
    ancestor = all.get(ancestor.ppid);
  }
  const ours = ancestor !== undefined && (ancestor.ppid === shopPid || ancestor.pid === shopPid);
  if (ours) {
    if (p.pid === shopPid) return "start.ts";
    const at = p.args.indexOf("--node-id");
    return at >= 0 ? `node ${p.args[at + 1]}` : `shop: ${p.comm}`;
  }
  const title = p.args.join(" ");
  if (p.comm === "postgres" || title.startsWith("postgres")) {
    return database !== undefined && title.includes(` ${database} `)
      ? "postgres (this shop's connections)"
      : "postgres (server: WAL writer, checkpointer…, other databases' connections)";
  }
  if (p.comm === "nats-server") return "nats-server";
  return `other: ${p.comm}`;
}

/** CPU use per label over a window, in % of one core, busiest first (≥ 0.5 %). */
function cpuBetween(
  before: Map<number, Proc>,
  after: Map<number, Proc>,
  ms: number,
  shopPid: number,
  database?: string,
): Record<string, number> {
  const byLabel = new Map<string, number>();
  for (const p of after.values()) {
    const delta = p.ticks - (before.get(p.pid)?.ticks ?? 0);
    if (delta <= 0) continue;
    const label = labelOf(p, after, shopPid, database);
    byLabel.set(label, (byLabel.get(label) ?? 0) + delta);
  }
  const percent = (ticks: number) => +((ticks / CLOCK_TICKS / (ms / 1000)) * 100).toFixed(1);
  return Object.fromEntries(
    [...byLabel]
      .map(([label, ticks]) => [label, percent(ticks)] as const)
      .filter(([, p]) => p >= 0.5)
      .sort((a, b) => b[1] - a[1]),
  );
}

// --- Starting and stopping a shop. -------------------------------------------------------------
/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

interface Shop {
  child: ChildProcess;
  base: string;
  namespace: string;
  dataDir: string;
  database?: string;
  startupMs: number;
}

/** Starts examples/shop/start.ts with `env` and resolves once it prints its URL. */
async function startShop(
  setup: SetupName,
  tag: string,
  database: string | undefined,
): Promise<Shop> {
  const [port, smtpPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), "flotilla-bench-shop-"));
  const namespace = `bench-shop-${tag}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FLOTILLA_NAMESPACE: namespace,
    FLOTILLA_LOG_LEVEL: process.env.FLOTILLA_LOG_LEVEL || "warn",
    SHOP_PORT: String(port),
    SHOP_SMTP_PORT: String(smtpPort),
    SHOP_DATA_DIR: dataDir,
    SHOP_SEED: "1",
  };
  delete env.SMTP_URL;
  delete env.SHOP_SMOKE;
  delete env.SHOP_HOST;
  delete env.FLOTILLA_DB_URL;
  if (setup === "tcp+sqlite") {
    env.FLOTILLA_TRANSPORTER = "tcp://";
  } else {
    env.FLOTILLA_TRANSPORTER = NATS_URL;
    const url = new URL(PG_URL);
    url.pathname = `/${database}`;
    env.FLOTILLA_DB_URL = url.toString();
  }
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", startScript], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const shop: Shop = { child, base: "", namespace, dataDir, database, startupMs: 0 };
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  shop.base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the shop did not start within ${STARTUP_TIMEOUT} ms`)),
      STARTUP_TIMEOUT,
    );
    lines.on("line", (line) => {
      const ready = /^Shop ready: (\S+)/.exec(line);
      if (ready?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(ready[1]);
      } else if (line.trim() !== "" && !line.startsWith("Press Ctrl-C")) {
        console.log(`  [shop] ${line}`);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the shop exited while starting (${signal ?? `code ${code}`})`));
    });
  });
  shop.startupMs = Math.round(performance.now() - started);
  return shop;
}

/** SIGTERM to start.ts, which stops every node; stragglers (by their PIDs) are killed. */
async function stopShop(shop: Shop): Promise<void> {
  const { child } = shop;
  const all = processes();
  const descendants = [...all.values()]
    .filter((p) => labelOf(p, all, child.pid ?? -1).startsWith("node "))
    .map((p) => p.pid);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT);
    await exited;
    clearTimeout(timer);
  }
  for (const pid of descendants) {
    try {
      process.kill(pid, "SIGKILL");
      console.log(`  node process ${pid} outlived the shop; killed it`);
    } catch {
      // Already gone, as it should be.
    }
  }
}

async function cleanUp(shop: Shop | undefined, setup: SetupName, database?: string) {
  if (shop !== undefined) rmSync(shop.dataDir, { recursive: true, force: true });
  if (setup !== "nats+postgres") return;
  if (database !== undefined) {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`drop database if exists "${database}" with (force)`);
    } finally {
      await client.end();
    }
  }
  if (shop !== undefined) {
    const nc = await natsConnect({ servers: NATS_URL.replace(/^nats:\/\//, "") });
    try {
      const jsm = await jetstreamManager(nc);
      const names = durableNames(shop.namespace);
      for (const stream of [names.stream, names.deadLetterStream]) {
        await jsm.streams.delete(stream).catch(() => false);
      }
    } finally {
      await nc.close();
    }
  }
}

// --- Talking to the shop. ----------------------------------------------------------------------
interface Answer {
  status: number;
  body: unknown;
}

async function call(
  client: Client,
  method: "GET" | "POST" | "PATCH",
  path: string,
  body?: unknown,
  token?: string,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await client.request({
    method,
    path,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: kept as text.
  }
  return { status: response.statusCode, body: parsed };
}

function expect(answer: Answer, status: number, what: string): Record<string, unknown> {
  if (answer.status !== status) {
    throw new Error(`${what}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body as Record<string, unknown>;
}

interface Buyer {
  client: Client;
  token: string;
  /** The product this client buys. */
  productId: string;
}

/** The admin's product with plenty of stock, and one registered, logged-in user per client. */
async function prepare(shop: Shop, tag: string) {
  const admin = new Client(shop.base, { localAddress: "127.0.0.1" });
  const login = expect(
    await call(admin, "POST", "/api/login", {
      email: "admin@shop.test",
      password: "admin-pass-123",
    }),
    200,
    "admin login",
  );
  const productIds: string[] = [];
  for (let n = 0; n < PRODUCTS; n++) {
    const product = expect(
      await call(
        admin,
        "POST",
        "/api/products",
        {
          sku: `BENCH-${tag}-${n}`.toUpperCase(),
          name: `Bench Widget ${n}`,
          description: "A product the benchmark's clients buy.",
          price: 1000,
          stock: STOCK,
        },
        String(login.token),
      ),
      201,
      "creating a product",
    );
    productIds.push(String(product.id));
  }
  // Each client from its own loopback address: the gateway's rate limits are per address.
  const buyers = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i): Promise<Buyer> => {
      const client = new Client(shop.base, { localAddress: `127.0.1.${i + 1}` });
      const email = `bench-${i}-${tag}@shop.test`;
      const password = `bench-pass-${i}`;
      expect(
        await call(client, "POST", "/api/register", { email, name: `Bench ${i}`, password }),
        201,
        `registering ${email}`,
      );
      const session = expect(
        await call(client, "POST", "/api/login", { email, password }),
        200,
        `logging in ${email}`,
      );
      return { client, token: String(session.token), productId: productIds[i % PRODUCTS]! };
    }),
  );
  return { admin, productIds, buyers };
}

// --- What PostgreSQL does meanwhile. -----------------------------------------------------------
/** Something read at the window's start and end (and sampled in between). */
interface Probe {
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface PgFigures {
  /** Per second over the window, for the bench's database (pg_stat_database; flushed ~1/s). */
  commitsPerSec: number;
  rollbacksPerSec: number;
  rowsWrittenPerSec: number;
  /**
   * The bench database's connections by what they were doing, averaged over samples taken every
   * 200 ms (pg_stat_activity): `active`, `idle`, `idle in transaction`, and what an active or
   * idle-in-transaction one waited for (`Lock: transactionid` is a row lock another transaction
   * holds).
   */
  connections: Record<string, number>;
  /** Connections in a transaction, by the statement they ran last (the 8 most seen), averaged. */
  inTransactionAfter: Record<string, number>;
  samples: number;
}

/** Reads pg_stat_database and samples pg_stat_activity for `database` over the window. */
function pgProbe(database: string): Probe & { figures(): PgFigures | undefined } {
  const client = new pg.Client({ connectionString: PG_URL });
  type Stats = { commits: string; rollbacks: string; written: string };
  const stats = async () =>
    (
      await client.query<Stats>(
        "select xact_commit as commits, xact_rollback as rollbacks, tup_inserted + tup_updated + tup_deleted as written from pg_stat_database where datname = $1",
        [database],
      )
    ).rows[0];
  let before: Stats | undefined;
  let began = 0;
  let result: PgFigures | undefined;
  let running = false;
  let sampling: Promise<void> = Promise.resolve();
  const connections = new Map<string, number>();
  const inTransaction = new Map<string, number>();
  let samples = 0;
  const sample = async () => {
    while (running) {
      const rows = (
        await client.query<{ state: string; type: string | null; event: string | null; n: number }>(
          "select coalesce(state, '?') as state, wait_event_type as type, wait_event as event, count(*)::int as n from pg_stat_activity where datname = $1 and backend_type = 'client backend' group by 1, 2, 3",
          [database],
        )
      ).rows;
      for (const r of rows) {
        const key =
          r.type === null || r.state === "idle" ? r.state : `${r.state} (${r.type}: ${r.event})`;
        connections.set(key, (connections.get(key) ?? 0) + r.n);
      }
      const open = (
        await client.query<{ q: string; n: number }>(
          "select left(regexp_replace(query, '\\s+', ' ', 'g'), 70) as q, count(*)::int as n from pg_stat_activity where datname = $1 and state like 'idle in transaction%' group by 1",
          [database],
        )
      ).rows;
      for (const r of open) inTransaction.set(r.q, (inTransaction.get(r.q) ?? 0) + r.n);
      samples++;
      await sleep(200);
    }
  };
  return {
    async start() {
      await client.connect();
      before = await stats();
      began = performance.now();
      running = true;
      sampling = sample();
    },
    async stop() {
      running = false;
      await sampling;
      const after = await stats();
      const seconds = (performance.now() - began) / 1000;
      await client.end();
      if (before === undefined || after === undefined) return;
      const rate = (a: string, b: string) => Math.round((Number(a) - Number(b)) / seconds);
      result = {
        commitsPerSec: rate(after.commits, before.commits),
        rollbacksPerSec: rate(after.rollbacks, before.rollbacks),
        rowsWrittenPerSec: rate(after.written, before.written),
        connections: Object.fromEntries(
          [...connections]
            .map(([k, n]) => [k, +(n / Math.max(1, samples)).toFixed(1)] as const)
            .sort((a, b) => b[1] - a[1]),
        ),
        inTransactionAfter: Object.fromEntries(
          [...inTransaction]
            .map(([k, n]) => [k, +(n / Math.max(1, samples)).toFixed(1)] as const)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 8),
        ),
        samples,
      };
    },
    figures: () => result,
  };
}

// --- Behind the checkout: the events and the mails. --------------------------------------------
interface Pipeline {
  /** Orders `confirmed` in the orders service's table. */
  confirmed: number;
  /** Events committed by orders and not yet published (its outbox). */
  outboxBacklog: number;
  /** Mails the mailbox stored: one per confirmed order ("Your order … is confirmed"). */
  mails: number;
}

/** Counts, straight from the databases, how far orders' events and their mails have got. */
async function pipelineOf(shop: Shop): Promise<Pipeline> {
  const queries = {
    confirmed: ["orders", "select count(*) as n from orders where status = 'confirmed'"],
    outboxBacklog: ["orders", "select count(*) as n from flotilla_outbox"],
    mails: ["mailbox", "select count(*) as n from mails"],
  } as const;
  const counts: Record<string, number> = {};
  if (shop.database === undefined) {
    const { default: Database } = await import("better-sqlite3");
    for (const [key, [service, sql]] of Object.entries(queries)) {
      const db = new Database(join(shop.dataDir, `${service}.sqlite`), {
        readonly: true,
        fileMustExist: true,
      });
      try {
        counts[key] = Number((db.prepare(sql).get() as { n: number }).n);
      } finally {
        db.close();
      }
    }
  } else {
    const url = new URL(PG_URL);
    url.pathname = `/${shop.database}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      for (const [key, [service, sql]] of Object.entries(queries)) {
        await client.query(`set search_path to "${service}"`);
        counts[key] = Number((await client.query<{ n: string }>(sql)).rows[0]?.n);
      }
    } finally {
      await client.end();
    }
  }
  return counts as unknown as Pipeline;
}

/** Waits (30 s at most) until every confirmed order has its mail; answers how long it took. */
async function drain(shop: Shop): Promise<{ ms: number; done: boolean; last: Pipeline }> {
  const started = performance.now();
  for (;;) {
    const last = await pipelineOf(shop);
    const ms = Math.round(performance.now() - started);
    if (last.mails >= last.confirmed && last.outboxBacklog === 0) return { ms, done: true, last };
    if (ms > 30_000) return { ms, done: false, last };
    await sleep(250);
  }
}

// --- The load. ---------------------------------------------------------------------------------
interface Outcomes {
  confirmed: number;
  rejected: number;
  rejectedReasons: Record<string, number>;
  errors: number;
  errorKinds: Record<string, number>;
}

const newOutcomes = (): Outcomes => ({
  confirmed: 0,
  rejected: 0,
  rejectedReasons: {},
  errors: 0,
  errorKinds: {},
});
const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * Every buyer checks out one unit at a time, back to back, from now until `warmup + window`
 * ms; answers completed inside the window are counted and timed, those before (warm-up) and
 * after (the last requests in flight) only counted for the stock check.
 */
async function load(buyers: Buyer[], warmup: number, window: number, probe?: Probe) {
  const windowStart = performance.now() + warmup;
  const windowEnd = windowStart + window;
  const inWindow = newOutcomes();
  const outside = newOutcomes();
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000, // µs
    numberOfSignificantValueDigits: 3,
  });
  const buyer = async ({ client, token, productId }: Buyer) => {
    const payload = JSON.stringify({ items: [{ productId, qty: 1 }] });
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
    while (performance.now() < windowEnd) {
      const t0 = performance.now();
      let outcome: "confirmed" | "rejected" | "error";
      let detail = "";
      try {
        const response = await client.request({
          method: "POST",
          path: "/api/orders",
          headers,
          body: payload,
        });
        const text = await response.body.text();
        if (response.statusCode >= 200 && response.statusCode < 300) {
          const order = JSON.parse(text) as { status?: string; reason?: string };
          outcome = order.status === "confirmed" ? "confirmed" : "rejected";
          detail = order.status === "confirmed" ? "" : (order.reason ?? `status ${order.status}`);
        } else {
          outcome = "error";
          let code = "";
          try {
            code = String((JSON.parse(text) as { code?: unknown }).code ?? "");
          } catch {
            // No JSON body.
          }
          detail = `HTTP ${response.statusCode}${code === "" ? "" : ` ${code}`}`;
        }
      } catch (err) {
        outcome = "error";
        detail = (err as { code?: string }).code ?? String(err);
        await sleep(10); // a connection failure answers at once: do not spin on it
      }
      const t1 = performance.now();
      const into = t1 >= windowStart && t1 < windowEnd ? inWindow : outside;
      if (outcome === "confirmed") into.confirmed++;
      else if (outcome === "rejected") {
        into.rejected++;
        bump(into.rejectedReasons, detail);
      } else {
        into.errors++;
        bump(into.errorKinds, detail);
      }
      if (into === inWindow && outcome !== "error") {
        histogram.recordValue(Math.max(1, Math.round((t1 - t0) * 1000)));
      }
    }
  };
  // Process CPU over the window, read from /proc at its start and end.
  let cpuStart: Map<number, Proc> | undefined;
  let machineStart: [number, number] = [0, 0];
  let cpuEnd: Map<number, Proc> | undefined;
  let machineEnd: [number, number] = [0, 0];
  let marks: { start: number; end: number } = { start: 0, end: 0 };
  const sampler = (async () => {
    await sleep(Math.max(0, windowStart - performance.now()));
    marks.start = performance.now();
    cpuStart = processes();
    machineStart = machineTicks();
    await probe?.start();
    await sleep(Math.max(0, windowEnd - performance.now()));
    cpuEnd = processes();
    machineEnd = machineTicks();
    await probe?.stop();
    marks = { ...marks, end: performance.now() };
  })();
  await Promise.all([...buyers.map(buyer), sampler]);
  const ms = (us: number) => +(us / 1000).toFixed(1);
  const latencyMs = {
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  };
  histogram.destroy();
  const machineBusy =
    machineEnd[1] > machineStart[1]
      ? (machineEnd[0] - machineStart[0]) / (machineEnd[1] - machineStart[1])
      : 0;
  return {
    inWindow,
    outside,
    latencyMs,
    cpu: { start: cpuStart, end: cpuEnd, ms: marks.end - marks.start },
    machineCpuBusy: +machineBusy.toFixed(2),
  };
}

// --- One run: a shop, its load, its figures. ---------------------------------------------------
interface Sample {
  round: number;
  setup: SetupName;
  checkoutsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  confirmed: number;
  rejected: number;
  rejectedReasons: Record<string, number>;
  errors: number;
  errorKinds: Record<string, number>;
  /** Warm-up and the requests that ended after the window, confirmed / rejected / errors. */
  outsideWindow: { confirmed: number; rejected: number; errors: number };
  /** The product's stock after the run + every confirmed unit = the stock it started with. */
  stockConsistent: boolean;
  /** Share of the machine's CPU (both cores) not idle over the window. */
  machineCpuBusy: number;
  /** CPU per process (group) over the window, % of one core. */
  processCpu: Record<string, number>;
  /**
   * CPU time per confirmed checkout, ms: the shop's nodes, its PostgreSQL connections and the
   * NATS server (not the load generator, nor other work on the machine).
   */
  shopCpuMsPerCheckout: number;
  /** CPU per process (group) with the shop up and no requests, % of one core (BENCH_IDLE_MS). */
  idleCpu: Record<string, number>;
  /** nats+postgres: what the bench's database did over the window. */
  postgres?: PgFigures;
  /**
   * Right after the last checkout answered: confirmed orders, events still in orders' outbox and
   * mails stored; then how long until every confirmed order's mail was stored (30 s at most),
   * and the mails stored per second meanwhile.
   */
  afterLoad: Pipeline & { drainMs: number; drained: boolean; mailsPerSecWhileDraining: number };
  load: { beforeStart: number; atWindow: number; waitedMs: number };
  startupMs: number;
}

async function runOnce(setup: SetupName, round: number): Promise<Sample> {
  const tag = `${process.pid}-${round}-${setup === "tcp+sqlite" ? "a" : "b"}`;
  const quiet = await waitQuiet(`${setup} round ${round}`);
  const database = setup === "nats+postgres" ? `bench_shop_${tag.replaceAll("-", "_")}` : undefined;
  let shop: Shop | undefined;
  try {
    if (database !== undefined) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`create database "${database}"`);
      } finally {
        await client.end();
      }
    }
    shop = await startShop(setup, tag, database);
    const { admin, productIds, buyers } = await prepare(shop, tag);
    const shopPid = shop.child.pid ?? -1;
    let idleCpu: Record<string, number> = {};
    if (IDLE_MS > 0) {
      await sleep(1_000); // registrations' scrypt and their events settle
      const before = processes();
      const t0 = performance.now();
      await sleep(IDLE_MS);
      idleCpu = cpuBetween(before, processes(), performance.now() - t0, shopPid, database);
    }
    const probe = database === undefined ? undefined : pgProbe(database);
    const atWindow = +(loadavg()[0] ?? 0).toFixed(2);
    const result = await load(buyers, WARMUP, WINDOW, probe);
    const atEnd = await pipelineOf(shop);
    const drained = await drain(shop);
    let stockLeft = 0;
    for (const id of productIds) {
      stockLeft += Number(
        expect(await call(admin, "GET", `/api/products/${id}`), 200, "stock").stock,
      );
    }
    const confirmedAll = result.inWindow.confirmed + result.outside.confirmed;
    await Promise.all([admin, ...buyers.map((b) => b.client)].map((c) => c.close()));
    const { start, end, ms } = result.cpu;
    const processCpu =
      start !== undefined && end !== undefined ? cpuBetween(start, end, ms, shopPid, database) : {};
    const checkoutsPerSec = Math.round((result.inWindow.confirmed * 1000) / WINDOW);
    const shopCpu = Object.entries(processCpu)
      .filter(([label]) => /^(node |postgres \(this shop|nats-server)/.test(label))
      .reduce((sum, [, percent]) => sum + percent, 0);
    const postgres = probe?.figures();
    return {
      round,
      setup,
      checkoutsPerSec,
      latencyMs: result.latencyMs,
      ...result.inWindow,
      outsideWindow: {
        confirmed: result.outside.confirmed,
        rejected: result.outside.rejected,
        errors: result.outside.errors,
      },
      stockConsistent: stockLeft + confirmedAll === STOCK * PRODUCTS,
      machineCpuBusy: result.machineCpuBusy,
      processCpu,
      shopCpuMsPerCheckout: +((shopCpu * 10) / Math.max(1, checkoutsPerSec)).toFixed(2),
      idleCpu,
      ...(postgres === undefined ? {} : { postgres }),
      afterLoad: {
        ...atEnd,
        drainMs: drained.ms,
        drained: drained.done,
        mailsPerSecWhileDraining: Math.round(
          ((drained.last.mails - atEnd.mails) * 1000) / Math.max(1, drained.ms),
        ),
      },
      load: { beforeStart: quiet.load, atWindow, waitedMs: quiet.waitedMs },
      startupMs: shop.startupMs,
    };
  } finally {
    if (shop !== undefined) await stopShop(shop);
    await cleanUp(shop, setup, database).catch((err) =>
      console.log(`  clean-up of ${setup} round ${round} failed: ${String(err)}`),
    );
  }
}

// --- The run. ----------------------------------------------------------------------------------
async function versions() {
  const found: Record<string, string> = {};
  const errors: Record<string, string> = {};
  if (SETUPS.includes("nats+postgres")) {
    try {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      found.postgres = (await client.query("show server_version")).rows[0]?.server_version;
      for (const setting of ["synchronous_commit", "fsync", "shared_buffers"]) {
        found[`postgres ${setting}`] = (await client.query(`show ${setting}`)).rows[0]?.[setting];
      }
      await client.end();
    } catch (err) {
      errors.postgres = String(err);
    }
    try {
      const nc = await natsConnect({ servers: NATS_URL.replace(/^nats:\/\//, "") });
      found.nats = nc.info?.version ?? "unknown";
      await nc.close();
    } catch (err) {
      errors.nats = String(err);
    }
  }
  const { default: Database } = await import("better-sqlite3");
  const d = new Database(":memory:");
  found.sqlite = (d.prepare("select sqlite_version() as v").get() as { v: string }).v;
  d.close();
  return { found, errors };
}

const runStarted = Date.now();
const loadBefore = loadavg();
const servers = await versions();
for (const [what, reason] of Object.entries(servers.errors)) {
  throw new Error(`${what} is not reachable (${reason}); set BENCH_SETUPS=tcp+sqlite to skip it`);
}
console.log(
  `shop checkout bench: ${CLIENTS} clients, ${WARMUP} ms warm-up + ${WINDOW} ms window, ${ROUNDS} rounds of ${SETUPS.join(", ")}`,
);
const samples: Sample[] = [];
const failures: { round: number; setup: SetupName; error: string }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  // ABBA: which setup goes first alternates, so a drift in the machine's load favours neither.
  for (const setup of round % 2 === 1 ? SETUPS : [...SETUPS].reverse()) {
    try {
      const s = await runOnce(setup, round);
      samples.push(s);
      const top = Object.entries(s.processCpu)
        .slice(0, 4)
        .map(([label, p]) => `${label} ${p}%`)
        .join(", ");
      console.log(
        `round ${round}  ${setup.padEnd(13)} ${String(s.checkoutsPerSec).padStart(5)} checkouts/s  p50 ${s.latencyMs.p50} ms  p99 ${s.latencyMs.p99} ms  rejected ${s.rejected}  errors ${s.errors}  stock ${s.stockConsistent ? "ok" : "MISMATCH"}  cpu ${Math.round(s.machineCpuBusy * 100)}%  load ${s.load.beforeStart}/${s.load.atWindow}\n      busiest: ${top}`,
      );
      console.log(
        `      shop CPU ${s.shopCpuMsPerCheckout} ms/checkout; idle: ${JSON.stringify(s.idleCpu)}`,
      );
      console.log(
        `      after the load: ${s.afterLoad.confirmed} confirmed, ${s.afterLoad.outboxBacklog} events in the outbox, ${s.afterLoad.mails} mails; every mail stored ${s.afterLoad.drained ? `${s.afterLoad.drainMs} ms later` : `not within ${s.afterLoad.drainMs} ms`} (${s.afterLoad.mailsPerSecWhileDraining} mails/s meanwhile)`,
      );
      if (s.postgres !== undefined) {
        console.log(
          `      postgres ${s.postgres.commitsPerSec} commits/s, ${s.postgres.rowsWrittenPerSec} rows written/s; connections ${JSON.stringify(s.postgres.connections)}`,
        );
      }
      if (s.errors > 0) console.log(`      errors: ${JSON.stringify(s.errorKinds)}`);
      if (s.rejected > 0) console.log(`      rejected: ${JSON.stringify(s.rejectedReasons)}`);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      failures.push({ round, setup, error });
      console.log(`round ${round}  ${setup.padEnd(13)} failed: ${error}`);
    }
  }
}

// --- Summary. ----------------------------------------------------------------------------------
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
interface Spread {
  median: number;
  min: number;
  max: number;
}
const spread = (xs: number[]): Spread => ({
  median: +median(xs).toFixed(2),
  min: Math.min(...xs),
  max: Math.max(...xs),
});
const fmt = (s: Spread, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

const summary: Record<string, unknown> = {};
const rows: Row[] = [];
const table: string[] = [];
for (const setup of SETUPS) {
  const xs = samples.filter((s) => s.setup === setup);
  if (xs.length === 0) continue;
  const labels = new Set(xs.flatMap((s) => Object.keys(s.processCpu)));
  const processCpuMedian = Object.fromEntries(
    [...labels]
      .map((label) => [label, +median(xs.map((s) => s.processCpu[label] ?? 0)).toFixed(1)] as const)
      .sort((a, b) => b[1] - a[1]),
  );
  const entry = {
    rounds: xs.length,
    checkoutsPerSec: spread(xs.map((s) => s.checkoutsPerSec)),
    p50Ms: spread(xs.map((s) => s.latencyMs.p50)),
    p99Ms: spread(xs.map((s) => s.latencyMs.p99)),
    rejected: xs.reduce((a, s) => a + s.rejected, 0),
    errors: xs.reduce((a, s) => a + s.errors, 0),
    stockConsistent: xs.every((s) => s.stockConsistent),
    machineCpuBusy: spread(xs.map((s) => s.machineCpuBusy)),
    shopCpuMsPerCheckout: spread(xs.map((s) => s.shopCpuMsPerCheckout)),
    /** From the last checkout's answer until every confirmed order's mail was stored. */
    mailDrainMs: spread(xs.map((s) => s.afterLoad.drainMs)),
    /** Mails stored per second after the load, until all were (or for 30 s). */
    mailsPerSecWhileDraining: spread(xs.map((s) => s.afterLoad.mailsPerSecWhileDraining)),
    /** Mails stored ÷ orders confirmed, when the last checkout answered. */
    mailedAtLoadEnd: spread(
      xs.map((s) => +(s.afterLoad.mails / Math.max(1, s.afterLoad.confirmed)).toFixed(2)),
    ),
    processCpuMedian,
    ...(xs.some((s) => s.postgres !== undefined)
      ? {
          postgresCommitsPerCheckout: spread(
            xs.map(
              (s) =>
                +((s.postgres?.commitsPerSec ?? 0) / Math.max(1, s.checkoutsPerSec)).toFixed(1),
            ),
          ),
        }
      : {}),
  };
  summary[setup] = entry;
  rows.push({
    name: `checkout via gateway, ${setup}`,
    inFlight: CLIENTS,
    opsPerSec: median(xs.map((s) => s.checkoutsPerSec)),
  });
  table.push(
    `| ${setup} | ${fmt(entry.checkoutsPerSec)} | ${fmt(entry.p50Ms, 1)} | ${fmt(entry.p99Ms, 1)} | ${entry.rejected} | ${entry.errors} |`,
  );
}

report(RESULT, rows, {
  unit: "confirmed checkouts/s through the gateway (median of rounds); inFlight = clients",
  command: "npm run bench:shop",
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    loadAverage: { before: loadBefore, after: loadavg() },
    quietWaitMs: quietWaited,
  },
  servers: servers.found,
  settings: {
    rounds: ROUNDS,
    windowMs: WINDOW,
    warmupMs: WARMUP,
    clients: CLIENTS,
    setups: SETUPS,
    maxLoad: MAX_LOAD,
    products: PRODUCTS,
    idleMs: IDLE_MS,
    checkout: `POST /api/orders { items: [{ productId, qty: 1 }] }, no coupon; ${PRODUCTS === 1 ? "one product" : `${PRODUCTS} products (client i buys product i mod ${PRODUCTS})`}, stock 1,000,000 each`,
    clientsDetail:
      "one user per client (registered and logged in through the gateway), one request at a time, keep-alive, each from its own loopback address",
    order:
      "setups alternate per round (ABBA); each run a fresh shop (examples/shop/start.ts), data dir, namespace, and for PostgreSQL a database of its own",
    postgres: `${PG_URL.replace(/\/\/([^:@/]+):[^@]*@/, "//$1:***@")} → a database bench_shop_<pid>_<round>_b per run, dropped after`,
    latency:
      "request sent to answer read, confirmed and rejected answers completed in the window; HDR histogram (µs, 3 digits)",
  },
  durationSec: Math.round((Date.now() - runStarted) / 1000),
  summary,
  failures,
  samples,
});
console.log("\n| setup | checkouts/s | p50 ms | p99 ms | rejected | errors |");
console.log("|---|--:|--:|--:|--:|--:|");
for (const line of table) console.log(line);
if (failures.length > 0) console.log(`failed runs: ${JSON.stringify(failures)}`);
console.log(
  `(${Math.round((Date.now() - runStarted) / 1000)} s; waited ${Math.round(quietWaited / 1000)} s for load)`,
);
process.exit(0);
