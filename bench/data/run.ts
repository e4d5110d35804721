// The transactional outbox against the unsafe way (write, then emit), on SQLite and PostgreSQL,
// over RabbitMQ and NATS JetStream, with 100 concurrent writers:
//   outbox    ctx.transaction(async (tx) => { insert a row; await tx.emit("bench.created", …) })
//   baseline  insert the row with ctx.db (autocommit), then ctx.emit("bench.created", …), durable
//             because a durable handler listens (a crash between the two loses the event)
// For each: commits (insert + emit pairs for the baseline) per second over a fixed window after a
// warm-up, with 100 writers as fast as they go (saturated); and delivery latency from the commit
// (the time right after `ctx.transaction` resolves; after the insert for the baseline) to the
// durable handler running in another process (bench/data/sink.ts), p50/p99 from an HDR
// histogram, both in that saturated window and at a fixed, moderate rate (paced). Rounds
// interleave outbox and baseline for every pair; each figure is the median of its rounds, with
// the min–max.
// Run: npm run bench:data   (results in bench/results/data.json)
// Needs PostgreSQL, RabbitMQ and NATS (JetStream) on 127.0.0.1 (URLs below, or PG_URL, AMQP_URL,
// NATS_URL). BENCH_ROUNDS (3), BENCH_MS saturated window (4000), BENCH_WARMUP_MS (1000),
// BENCH_PACED_MS (2000), BENCH_PACED_RATE commits/s (400), BENCH_WRITERS (100),
// BENCH_DATABASES ("sqlite,postgres"), BENCH_BROKERS ("amqp,nats"), BENCH_MODES
// ("outbox,baseline"), BENCH_BATCH (relay batch size; unset: Flotilla's default),
// BENCH_PG_RELAY ("own"; "both" adds the relay re-pointed at the handlers' pool, as it was before
// it had a connection of its own), BENCH_RESULT (results file name; default "data", else
// "data-batch<N>" or "data-pg-relay-<x>").
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { basename, join } from "node:path";
import type { EventLoopUtilization } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { connect as natsConnect } from "@nats-io/transport-node";
import amqplib from "amqplib";
import { defineDatabase, defineService, ServiceBroker } from "flotilla";
// An HDR histogram (installed with autocannon, which the gateway benchmark uses).
import * as hdr from "hdr-histogram-js";
import pg from "pg";
import { OutboxStore } from "../../src/data/outbox/store.js";
import { deleteAmqpNamespace, JetStreamAdmin } from "../../test/events/durable/servers.js";
import { type Row, report } from "../lib.js";
import type { FromSink, ToSink } from "./sink.js";

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WINDOW = Number(process.env.BENCH_MS ?? 4000);
const WARMUP = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const PACED_MS = Number(process.env.BENCH_PACED_MS ?? 2000);
const PACED_RATE = Number(process.env.BENCH_PACED_RATE ?? 400);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 100);
/** Relay batch size other than the default (unset: Flotilla's default). */
const BATCH = process.env.BENCH_BATCH === undefined ? undefined : Number(process.env.BENCH_BATCH);
/**
 * PostgreSQL: "own" (the relay's own connection, as Flotilla does), "shared" (re-pointed at the
 * handlers' pool, as before), or "both" (side by side, interleaved: a before/after in one run).
 */
const PG_RELAY = (process.env.BENCH_PG_RELAY ?? "own") as "own" | "shared" | "both";
/** The results file: bench/results/<name>.json (a plain name). */
const RESULT = basename(
  process.env.BENCH_RESULT ??
    (BATCH !== undefined
      ? `data-batch${BATCH}`
      : PG_RELAY !== "own"
        ? `data-pg-relay-${PG_RELAY}`
        : "data"),
);
/** How long the events of one phase may take to arrive after the writers stop. */
const DRAIN_TIMEOUT = 60_000;

type Db = "sqlite" | "postgres";
type Mq = "amqp" | "nats";
type Mode = "outbox" | "baseline";
const list = <T>(name: string, fallback: string) =>
  (process.env[name] ?? fallback).split(",").map((s) => s.trim()) as T[];
const DATABASES = list<Db>("BENCH_DATABASES", "sqlite,postgres");
const BROKERS = list<Mq>("BENCH_BROKERS", "amqp,nats");
const MODES = list<Mode>("BENCH_MODES", "outbox,baseline");

/** Wall-clock time in ms with sub-ms precision, comparable with the sink process's. */
const now = () => performance.timeOrigin + performance.now();

// --- Relay instrumentation (this benchmark only): claims, rows per claim, phase times. ---------
// Every pair's writer node has a relay in this process; each store is told apart by the pair
// that was starting when it made its first claim (the relay claims as it starts).
interface RelayCounters {
  claims: number;
  emptyClaims: number;
  claimed: number;
  claimMs: number;
  /** From the end of a claim to the start of the remove that follows: publishing the batch. */
  publishMs: number;
  removes: number;
  removeMs: number;
  published: number;
  claimEnded: number;
}
const counters = new Map<string, RelayCounters>();
const storeByLabel = new Map<string, OutboxStore>();
const storeOf = new WeakMap<OutboxStore, RelayCounters>();
let starting = "";
function countersOf(store: OutboxStore): RelayCounters {
  let c = storeOf.get(store);
  if (c === undefined) {
    c = counters.get(starting);
    if (c === undefined) {
      c = {
        claims: 0,
        emptyClaims: 0,
        claimed: 0,
        claimMs: 0,
        publishMs: 0,
        removes: 0,
        removeMs: 0,
        published: 0,
        claimEnded: 0,
      };
      counters.set(starting, c);
    }
    storeOf.set(store, c);
    storeByLabel.set(starting, store);
  }
  return c;
}
const claim = OutboxStore.prototype.claim;
OutboxStore.prototype.claim = async function (this: OutboxStore, ...args) {
  const c = countersOf(this);
  const started = performance.now();
  const rows = await claim.apply(this, args);
  c.claimEnded = performance.now();
  c.claimMs += c.claimEnded - started;
  c.claims++;
  c.claimed += rows.length;
  if (rows.length === 0) c.emptyClaims++;
  return rows;
};
const remove = OutboxStore.prototype.remove;
OutboxStore.prototype.remove = async function (this: OutboxStore, ids) {
  const c = countersOf(this);
  const started = performance.now();
  c.publishMs += started - c.claimEnded;
  await remove.call(this, ids);
  c.published += ids.length;
  c.removes++;
  c.removeMs += performance.now() - started;
};

/** [busy, total] CPU ticks of the whole machine, from /proc/stat (zeros where there is none). */
function cpuTicks(): [number, number] {
  try {
    const ticks = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    const total = ticks.reduce((a, b) => a + b, 0);
    return [total - idle, total];
  } catch {
    return [0, 0];
  }
}

// --- The writing service. ----------------------------------------------------------------------
interface BenchDB {
  bench_rows: { id: number; body: string; created_at: number };
}

/** Commit time of every event ID, filled by the actions, read after each phase. */
const commits = new Map<number, number>();
let committed = 0;
const BODY = "x".repeat(64);

function writerService(db: Db, schema: string) {
  return defineService({
    name: "benchw",
    database: defineDatabase<BenchDB>({
      ...(db === "postgres" ? { url: PG_URL, schema } : {}),
      ...(BATCH === undefined ? {} : { outbox: { batchSize: BATCH } }),
      migrations: {
        "0001_rows": {
          async up(k) {
            await k.schema
              .createTable("bench_rows")
              .addColumn("id", db === "postgres" ? "bigint" : "integer", (c) => c.primaryKey())
              .addColumn("body", "text", (c) => c.notNull())
              .addColumn("created_at", "bigint", (c) => c.notNull())
              .execute();
          },
        },
      },
    }),
    actions: {
      outbox: {
        async handler(ctx) {
          const { id } = ctx.params as { id: number };
          await ctx.transaction(async (tx) => {
            await tx.db
              .insertInto("bench_rows")
              .values({ id, body: BODY, created_at: Date.now() })
              .execute();
            await tx.emit("bench.created", { id, t: Date.now() });
          });
          commits.set(id, now());
          committed++;
        },
      },
      baseline: {
        async handler(ctx) {
          const { id } = ctx.params as { id: number };
          await ctx.db
            .insertInto("bench_rows")
            .values({ id, body: BODY, created_at: Date.now() })
            .execute();
          commits.set(id, now());
          committed++;
          await ctx.emit("bench.created", { id, t: Date.now() });
        },
      },
    },
  });
}

// --- The sink process. -------------------------------------------------------------------------
let sinkProcess: ChildProcess | undefined;
let nextReq = 0;
const waiting = new Map<number, (m: FromSink & { type: "collected" }) => void>();

function toSink(msg: ToSink): void {
  sinkProcess?.send(msg);
}

async function startSink(pairs: { namespace: string; transporter: string }[]): Promise<void> {
  const script = fileURLToPath(new URL("./sink.ts", import.meta.url));
  const child = fork(script, [], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  sinkProcess = child;
  const ready = new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the sink exited (${code})`)));
    child.on("message", (m: FromSink) => {
      if (m.type === "ready") resolve();
      else if (m.type === "collected") {
        waiting.get(m.req)?.(m);
        waiting.delete(m.req);
      }
    });
  });
  toSink({ type: "start", pairs });
  await ready;
}

function collect(namespace: string, from: number, to: number) {
  const req = nextReq++;
  return new Promise<FromSink & { type: "collected" }>((resolve) => {
    waiting.set(req, resolve);
    toSink({ type: "collect", req, namespace, from, to });
  });
}

async function stopSink(): Promise<void> {
  const child = sinkProcess;
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  toSink({ type: "stop" });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill();
}

// --- One pair (database × message broker): a writer node in this process. ----------------------
interface Pair {
  db: Db;
  mq: Mq;
  label: string;
  namespace: string;
  transporter: string;
  schema: string;
  broker: ServiceBroker;
  /** PostgreSQL: the relay re-pointed at the handlers' pool, as before it had its own. */
  sharedRelayPool: boolean;
}

const tmp = mkdtempSync(join(tmpdir(), "flotilla-bench-data-"));

function makePair(db: Db, mq: Mq, sharedRelayPool = false): Pair {
  const tag = `${db}-${mq}${sharedRelayPool ? "-shared" : ""}`;
  const namespace = `bench-data-${process.pid}-${tag}`;
  const transporter = mq === "amqp" ? AMQP_URL : NATS_URL;
  const schema = `bench_data_${process.pid}_${mq}${sharedRelayPool ? "_shared" : ""}`;
  const broker = new ServiceBroker({
    namespace,
    nodeID: `writer-${tag}`,
    logger: false,
    transporter,
    // SQLite: the default file (<dir>/benchw.sqlite, WAL) in a directory of this run's.
    ...(db === "sqlite" ? { database: { dir: join(tmp, mq) } } : {}),
  });
  broker.createService(writerService(db, schema));
  const label = `${db}${sharedRelayPool ? " (relay in pool)" : ""} + ${mq}`;
  return { db, mq, label, namespace, transporter, schema, broker, sharedRelayPool };
}

/**
 * The relay as it was before it had a PostgreSQL connection of its own (for a before/after in
 * one run, BENCH_PG_RELAY=both): its store is pointed at the handlers' pool.
 */
function shareRelayPool(p: Pair): void {
  const store = storeByLabel.get(p.label);
  const data = p.broker.registry.services.get("benchw")?.data as { kysely?: unknown } | undefined;
  if (store === undefined || data?.kysely === undefined) throw new Error("no relay to re-point");
  (store as unknown as { db: unknown }).db = data.kysely;
}

// --- Phases. -----------------------------------------------------------------------------------
let nextId = 1;

interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Events committed in the window that never reached the handler (should be 0). */
  undelivered: number;
}

/**
 * Waits until every event committed with an ID in [from, to) reached the sink, then returns the
 * latency (arrival − commit) of those committed in [start, end), and the last arrival time.
 */
async function deliveries(pair: Pair, from: number, to: number, start: number, end: number) {
  let expected = 0;
  for (let id = from; id < to; id++) if (commits.has(id)) expected++;
  const arrived = new Map<number, number>();
  let nonDurable = 0;
  const deadline = now() + DRAIN_TIMEOUT;
  while (arrived.size < expected && now() < deadline) {
    const got = await collect(pair.namespace, from, to);
    for (const [id, at] of got.received) arrived.set(id, at);
    nonDurable = got.nonDurable;
    if (arrived.size < expected) await new Promise((r) => setTimeout(r, 20));
  }
  let lastArrival = 0;
  for (const at of arrived.values()) lastArrival = Math.max(lastArrival, at);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000, // µs
    numberOfSignificantValueDigits: 3,
  });
  let inWindow = 0;
  let undelivered = 0;
  for (let id = from; id < to; id++) {
    const c = commits.get(id);
    if (c === undefined) continue;
    commits.delete(id);
    if (c < start || c >= end) continue;
    inWindow++;
    const at = arrived.get(id);
    if (at === undefined) undelivered++;
    else histogram.recordValue(Math.max(1, Math.round((at - c) * 1000)));
  }
  const ms = (us: number) => +(us / 1000).toFixed(2);
  const latency: Latency = {
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
    undelivered,
  };
  histogram.destroy();
  return { latency, inWindow, lastArrival, nonDurable };
}

/** 100 writers as fast as they go for warm-up + window; then every event delivered. */
async function saturated(pair: Pair, mode: Mode) {
  const from = nextId;
  const action = `benchw.${mode}`;
  const windowStart = now() + WARMUP;
  const windowEnd = windowStart + WINDOW;
  let errors = 0;
  let firstError: string | undefined;
  // The window's figures, taken by the first writer that sees it open, then close.
  const relay = counters.get(pair.label);
  if (relay === undefined) throw new Error(`no outbox relay started for ${pair.label}`);
  const committedBefore = committed;
  const publishedBefore = relay.published;
  let atStart: RelayCounters | undefined;
  let atEnd: RelayCounters | undefined;
  let eluStart: EventLoopUtilization | undefined;
  let elu = 0;
  let cpuStart: [number, number] = [0, 0];
  let machineBusy = 0;
  let backlogAtEnd = 0;
  const mark = () => {
    const t = now();
    if (atStart === undefined && t >= windowStart) {
      atStart = { ...relay };
      eluStart = performance.eventLoopUtilization();
      cpuStart = cpuTicks();
    }
    if (atEnd === undefined && t >= windowEnd) {
      atEnd = { ...relay };
      elu = performance.eventLoopUtilization(eluStart).utilization;
      const cpu = cpuTicks();
      machineBusy = cpu[1] > cpuStart[1] ? (cpu[0] - cpuStart[0]) / (cpu[1] - cpuStart[1]) : 0;
      backlogAtEnd = committed - committedBefore - (relay.published - publishedBefore);
    }
    return t;
  };
  const writer = async () => {
    while (mark() < windowEnd) {
      // Each call starts from a macrotask, as a request read from a socket would. Without this,
      // SQLite's synchronous driver lets 100 writers run on microtasks alone and starve the event
      // loop: the relay's socket I/O (and every timer) waits until the writers stop.
      await new Promise(setImmediate);
      const id = nextId++;
      try {
        await pair.broker.call(action, { id });
      } catch (err) {
        errors++;
        firstError ??= (err as { code?: string }).code ?? String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  const writersDone = now();
  const got = await deliveries(pair, from, nextId, windowStart, windowEnd);
  const end = atEnd ?? { ...relay };
  const start = atStart ?? end;
  const claims = end.claims - start.claims;
  const perClaim = (x: number) => (claims === 0 ? 0 : +(x / claims).toFixed(2));
  return {
    commitsPerSec: Math.round((got.inWindow * 1000) / WINDOW),
    commitsInWindow: got.inWindow,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    nonDurableDeliveries: got.nonDurable,
    latencyMs: got.latency,
    /** From the writers' stop to the last event's arrival. */
    drainMs: Math.round(Math.max(0, got.lastArrival - writersDone)),
    /** This process's event-loop utilization over the window (writers, relay, writer node). */
    writerEventLoopBusy: +elu.toFixed(2),
    /** Share of the whole machine's CPU time (all cores) that was not idle over the window. */
    machineCpuBusy: +machineBusy.toFixed(2),
    ...(mode === "outbox"
      ? {
          relay: {
            claimsPerSec: Math.round((claims * 1000) / WINDOW),
            emptyClaims: end.emptyClaims - start.emptyClaims,
            rowsPerClaim: +perClaim(end.claimed - start.claimed).toFixed(1),
            claimMsMean: perClaim(end.claimMs - start.claimMs),
            publishMsMean: perClaim(end.publishMs - start.publishMs),
            removeMsMean: perClaim(end.removeMs - start.removeMs),
            publishedPerSec: Math.round(((end.published - start.published) * 1000) / WINDOW),
            /** Committed and not yet published when the window closed. */
            backlogAtWindowEnd: backlogAtEnd,
          },
        }
      : {}),
  };
}

/** A fixed rate of commits (open loop: calls start on schedule, not when others end). */
async function paced(pair: Pair, mode: Mode) {
  const from = nextId;
  const action = `benchw.${mode}`;
  const start = now();
  const end = start + PACED_MS;
  const calls: Promise<unknown>[] = [];
  let errors = 0;
  let issued = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = now();
      const due = Math.min(
        Math.floor(((t - start) * PACED_RATE) / 1000),
        (PACED_MS * PACED_RATE) / 1000,
      );
      for (; issued < due; issued++) {
        calls.push(
          pair.broker.call(action, { id: nextId++ }).catch(() => {
            errors++;
          }),
        );
      }
      if (t >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(calls);
  const got = await deliveries(pair, from, nextId, start, Number.POSITIVE_INFINITY);
  return {
    rate: PACED_RATE,
    commits: got.inWindow,
    errors,
    latencyMs: got.latency,
  };
}

// --- Servers' versions, for the record. --------------------------------------------------------
async function serverVersions() {
  const versions: Record<string, string> = {};
  if (DATABASES.includes("postgres")) {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    versions.postgres = (await client.query("show server_version")).rows[0]?.server_version;
    await client.end();
  }
  if (DATABASES.includes("sqlite")) {
    const { default: Database } = await import("better-sqlite3");
    const d = new Database(":memory:");
    versions.sqlite = (d.prepare("select sqlite_version() as v").get() as { v: string }).v;
    d.close();
  }
  if (BROKERS.includes("amqp")) {
    const conn = await amqplib.connect(AMQP_URL);
    const props = (conn.connection as unknown as { serverProperties?: { version?: unknown } })
      .serverProperties;
    versions.rabbitmq = String(props?.version ?? "unknown");
    await conn.close();
  }
  if (BROKERS.includes("nats")) {
    const nc = await natsConnect({ servers: NATS_URL.replace(/^nats:\/\//, "") });
    versions.nats = nc.info?.version ?? "unknown";
    await nc.close();
  }
  return versions;
}

async function cleanUp(pairs: readonly Pair[]): Promise<void> {
  rmSync(tmp, { recursive: true, force: true });
  const pgPairs = pairs.filter((p) => p.db === "postgres");
  if (pgPairs.length > 0) {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (const p of pgPairs) await client.query(`drop schema if exists "${p.schema}" cascade`);
    await client.end();
  }
  for (const p of pairs.filter((x) => x.mq === "amqp")) {
    await deleteAmqpNamespace(AMQP_URL, p.namespace, { "bench.created": ["sink"] }).catch(
      () => undefined,
    );
  }
  const natsPairs = pairs.filter((x) => x.mq === "nats");
  if (natsPairs.length > 0) {
    const admin = await JetStreamAdmin.open(NATS_URL.replace(/^nats:\/\//, ""));
    await admin.deleteNamespaces(natsPairs.map((p) => p.namespace));
    await admin.close();
  }
}

// --- The run. ----------------------------------------------------------------------------------
type Saturated = Awaited<ReturnType<typeof saturated>>;
type Paced = Awaited<ReturnType<typeof paced>>;
interface Sample {
  round: number;
  saturated: Saturated;
  paced: Paced;
}
const pairs: Pair[] = [];
const samples: Record<string, Partial<Record<Mode, Sample[]>>> = {};
const runStarted = Date.now();
const loadBefore = loadavg();
const versions = await serverVersions();
try {
  for (const db of DATABASES) {
    for (const mq of BROKERS) {
      if (db !== "postgres" || PG_RELAY !== "shared") pairs.push(makePair(db, mq));
      if (db === "postgres" && PG_RELAY !== "own") pairs.push(makePair(db, mq, true));
    }
  }
  await startSink(pairs.map((p) => ({ namespace: p.namespace, transporter: p.transporter })));
  for (const p of pairs) {
    starting = p.label;
    await p.broker.start();
    if (p.sharedRelayPool) shareRelayPool(p);
    await p.broker.waitForServices(["sink"], 15_000);
    samples[p.label] = Object.fromEntries(MODES.map((m) => [m, []]));
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of pairs) {
      // Which mode goes first alternates between rounds (ABBA), so drift favours neither.
      for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) {
        const sat = await saturated(p, mode);
        const pac = await paced(p, mode);
        samples[p.label]?.[mode]?.push({ round: r + 1, saturated: sat, paced: pac });
        const relayNote =
          sat.relay === undefined
            ? ""
            : `\n      relay ${sat.relay.claimsPerSec} claims/s × ${sat.relay.rowsPerClaim} rows (claim ${sat.relay.claimMsMean} ms, publish ${sat.relay.publishMsMean} ms, remove ${sat.relay.removeMsMean} ms), backlog at end ${sat.relay.backlogAtWindowEnd}`;
        console.log(
          `round ${r + 1}  ${p.label.padEnd(16)} ${mode.padEnd(8)} ${String(sat.commitsPerSec).padStart(5)} commits/s  p50 ${sat.latencyMs.p50} p99 ${sat.latencyMs.p99} ms | at ${PACED_RATE}/s p50 ${pac.latencyMs.p50} p99 ${pac.latencyMs.p99} ms | errors ${sat.errors + pac.errors} undelivered ${sat.latencyMs.undelivered + pac.latencyMs.undelivered} | loop ${sat.writerEventLoopBusy} cpu ${sat.machineCpuBusy}${relayNote}`,
        );
      }
    }
  }
} finally {
  await Promise.allSettled(pairs.map((p) => p.broker.stop()));
  await stopSink();
  await cleanUp(pairs);
}

// --- Summary. ----------------------------------------------------------------------------------
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] ?? 0);
};
interface Spread {
  median: number;
  min: number;
  max: number;
}
const spread = (xs: number[]): Spread => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});
const fmt = (s: Spread, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

const summary: Record<string, Record<string, unknown>> = {};
const rows: Row[] = [];
const table: string[] = [];
for (const [label, byMode] of Object.entries(samples)) {
  const of = (mode: Mode) => {
    const xs = byMode[mode] ?? [];
    return {
      commitsPerSec: spread(xs.map((x) => x.saturated.commitsPerSec)),
      /** Outbox: events the relay published per second in the same window (it keeps up, or not). */
      relayPublishedPerSec: spread(xs.map((x) => x.saturated.relay?.publishedPerSec ?? 0)),
      relayBacklogAtWindowEnd: spread(xs.map((x) => x.saturated.relay?.backlogAtWindowEnd ?? 0)),
      p50Ms: spread(xs.map((x) => x.saturated.latencyMs.p50)),
      p99Ms: spread(xs.map((x) => x.saturated.latencyMs.p99)),
      pacedP50Ms: spread(xs.map((x) => x.paced.latencyMs.p50)),
      pacedP99Ms: spread(xs.map((x) => x.paced.latencyMs.p99)),
      errors: xs.reduce((a, x) => a + x.saturated.errors + x.paced.errors, 0),
      undelivered: xs.reduce(
        (a, x) => a + x.saturated.latencyMs.undelivered + x.paced.latencyMs.undelivered,
        0,
      ),
    };
  };
  const entry: Record<string, unknown> = {};
  for (const mode of MODES) {
    const s = of(mode);
    entry[mode] = s;
    rows.push({ name: `${label} ${mode}`, inFlight: WRITERS, opsPerSec: s.commitsPerSec.median });
    table.push(
      `| ${label} | ${mode} | ${fmt(s.commitsPerSec)} | ${mode === "outbox" ? fmt(s.relayPublishedPerSec) : "="} | ${fmt(s.p50Ms, 1)} | ${fmt(s.p99Ms, 1)} | ${fmt(s.pacedP50Ms, 1)} | ${fmt(s.pacedP99Ms, 1)} |`,
    );
  }
  const outbox = byMode.outbox ?? [];
  const baseline = byMode.baseline ?? [];
  if (outbox.length > 0 && baseline.length > 0) {
    const o = of("outbox");
    const b = of("baseline");
    const perRound = outbox.map(
      (x, i) =>
        +(x.saturated.commitsPerSec / (baseline[i]?.saturated.commitsPerSec || 1)).toFixed(2),
    );
    const ratio = +(o.commitsPerSec.median / (b.commitsPerSec.median || 1)).toFixed(2);
    entry.throughputRatio = { ofMedians: ratio, perRound: spread(perRound) };
    entry.goals = {
      "outbox ≥ 0.7 × baseline": ratio >= 0.7,
      "outbox p99 < 50 ms (saturated)": o.p99Ms.median < 50,
      [`outbox p99 < 50 ms (at ${PACED_RATE}/s)`]: o.pacedP99Ms.median < 50,
    };
    table.push(
      `| ${label} | outbox ÷ baseline | ${ratio} (per round ${fmt(spread(perRound), 2)}) | | | | | |`,
    );
  }
  summary[label] = entry;
}

report(RESULT, rows, {
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    loadAverage: { before: loadBefore, after: loadavg() },
  },
  servers: versions,
  settings: {
    rounds: ROUNDS,
    windowMs: WINDOW,
    warmupMs: WARMUP,
    writers: WRITERS,
    paced: { ms: PACED_MS, rate: PACED_RATE },
    relayBatchSize: BATCH ?? "default",
    pgRelay: PG_RELAY,
    order:
      "per round and pair: outbox then baseline on odd rounds, baseline then outbox on even ones",
    sqlite: "the default file per service in a temp directory (WAL, synchronous=NORMAL)",
    postgres: `${PG_URL.replace(/\/\/([^:@/]+):[^@]*@/, "//$1:***@")}, a schema per pair (dropped after), pool 10 (the default)`,
    latency:
      "commit (right after ctx.transaction resolves; for the baseline right after the insert) to the durable handler starting in another process; HDR histogram (µs, 3 digits)",
    writerLoop:
      "broker.call to a local action in a loop; each call starts from setImmediate, as a request read from a socket would",
  },
  durationSec: Math.round((Date.now() - runStarted) / 1000),
  summary,
  samples,
});
console.log(
  `\n| pair | mode | commits/s | published/s | p50 ms | p99 ms | p50 ms at ${PACED_RATE}/s | p99 ms at ${PACED_RATE}/s |`,
);
console.log("|---|---|--:|--:|--:|--:|--:|--:|");
for (const line of table) console.log(line);
console.log(`(${Math.round((Date.now() - runStarted) / 1000)} s)`);
