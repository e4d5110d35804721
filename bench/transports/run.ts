// Every transport side by side: throughput, latency under load, CPU per call and payload sizes of
// the raw client (the floor), Flotilla, Moleculer and NestJS on tcp, NATS, Redis and RabbitMQ.
// Run: node --import tsx bench/transports/run.ts        (about 25–30 minutes on 2 cores)
//      node --import tsx bench/transports/run.ts --report   (reprints the tables from the results)
// Knobs (BENCH_*) and the method: bench/README.md.
// Results: bench/results/transports.json (BENCH_RESULTS), charts: bench/results/charts/.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { writeCharts } from "./charts.js";
import { closePair, command, openPair, type Pair } from "./child.js";
import { contenders } from "./contenders/index.js";
import type { Codec, Kind, Transport } from "./contract.js";
import { type LatencyResult, type LoopResult, setClockTicks } from "./measure.js";
import {
  IN_FLIGHTS,
  LOADS,
  PAYLOAD_SIZES,
  type Results,
  record,
  reportMarkdown,
} from "./report.js";

const env = process.env;
const list = (value: string | undefined, all: string[]) => (value ? value.split(",") : all);
const settings = {
  BENCH_TRANSPORTS: list(env.BENCH_TRANSPORTS, ["tcp", "nats", "redis", "amqp"]) as Transport[],
  BENCH_KINDS: list(env.BENCH_KINDS, ["raw", "flotilla", "moleculer", "nestjs"]) as Kind[],
  BENCH_ROUNDS: Number(env.BENCH_ROUNDS ?? 3),
  BENCH_WARMUP_MS: Number(env.BENCH_WARMUP_MS ?? 2000),
  BENCH_MS: Number(env.BENCH_MS ?? 2000),
  BENCH_LATENCY_MS: Number(env.BENCH_LATENCY_MS ?? 3000),
  BENCH_PAYLOADS: env.BENCH_PAYLOADS !== "0",
  BENCH_CAP: Number(env.BENCH_CAP ?? 20_000),
  BENCH_RESULTS:
    env.BENCH_RESULTS ?? fileURLToPath(new URL("../results/transports.json", import.meta.url)),
};
const S = settings;
const RAMP_MS = Math.round(Math.min(1000, Math.max(100, S.BENCH_LATENCY_MS / 6)));
const PAYLOAD_TRANSPORTS: Transport[] = ["tcp", "nats"];
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));
if (process.argv.includes("--report")) {
  if (!existsSync(S.BENCH_RESULTS)) {
    console.error(
      `no results at ${S.BENCH_RESULTS}: run the benchmark first (or set BENCH_RESULTS)`,
    );
    process.exit(1);
  }
  console.log(reportMarkdown(JSON.parse(readFileSync(S.BENCH_RESULTS, "utf8")) as Results));
  process.exit(0);
}

const loop = (pair: Pair, call: "add" | "echo", inFlight: number, ms: number, size?: number) =>
  command<LoopResult>(pair, { op: "loop", call, inFlight, ms, ...(size ? { size } : {}) }, ms);
const warmUp = (pair: Pair, call: "add" | "echo", inFlight: number, ms: number, size = 100) =>
  command(pair, { op: "loop", call, inFlight, ms, size, warmup: true }, ms);

const results: Results = {
  meta: { rates: {} },
  throughput: {},
  latency: {},
  payloads: {},
  failures: [],
};

/** Opens a pair, runs `body`, closes the pair; a failure is recorded, not thrown. */
async function withPair(
  kind: Kind,
  transport: Transport,
  codec: Codec,
  round: number,
  body: (pair: Pair, step: (what: string) => void) => Promise<void>,
): Promise<void> {
  let what = "start";
  let pair: Pair | undefined;
  try {
    pair = await openPair(kind, transport, codec);
    await body(pair, (step) => {
      what = step;
    });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    results.failures.push({
      transport,
      kind,
      round,
      what: `${codec} ${what}`,
      error: error.slice(0, 500),
    });
    progress(
      `${transport} ${kind} ${codec} round ${round}: FAILED at ${what}: ${error.slice(0, 300)}`,
    );
  } finally {
    if (pair) await closePair(pair);
  }
}

async function calibrate(transport: Transport): Promise<void> {
  await withPair("flotilla", transport, "json", 0, async (pair, step) => {
    step("calibration");
    await warmUp(pair, "add", 64, S.BENCH_WARMUP_MS);
    const { result } = await loop(pair, "add", 64, S.BENCH_MS);
    const flotilla64 = Math.round(result.calls / result.seconds);
    const offered = Object.fromEntries(
      LOADS.map((l) => [l, Math.max(1, Math.round((flotilla64 * l) / 100))]),
    );
    results.meta.rates[transport] = { flotilla64, offered };
    progress(
      `${transport} calibrated: Flotilla ${flotilla64.toLocaleString("en-US")} calls/s at 64 in flight`,
    );
  });
}

async function mainPair(transport: Transport, kind: Kind, round: number): Promise<void> {
  await withPair(kind, transport, "json", round, async (pair, step) => {
    const notes: string[] = [];
    step("warm-up");
    await warmUp(pair, "add", 64, S.BENCH_WARMUP_MS);
    for (const n of IN_FLIGHTS) {
      step(`throughput ${n}`);
      const { result, serverCpuMs } = await loop(pair, "add", n, S.BENCH_MS);
      const at = [transport, kind, n];
      record(results.throughput, [...at, "callsPerSec"], result.calls / result.seconds);
      record(
        results.throughput,
        [...at, "clientCpuUs"],
        (result.clientCpuMs * 1000) / result.calls,
      );
      record(results.throughput, [...at, "serverCpuUs"], (serverCpuMs * 1000) / result.calls);
      notes.push(`${n} → ${Math.round(result.calls / result.seconds).toLocaleString("en-US")}/s`);
    }
    const offered = results.meta.rates[transport]?.offered;
    for (const load of offered ? LOADS : []) {
      step(`latency ${load} %`);
      const cmd = {
        op: "latency",
        rate: offered![load]!,
        rampMs: RAMP_MS,
        ms: S.BENCH_LATENCY_MS,
        cap: S.BENCH_CAP,
      } as const;
      const budget = RAMP_MS + S.BENCH_LATENCY_MS + Math.max(5000, S.BENCH_LATENCY_MS);
      const { result: r, serverCpuMs } = await command<LatencyResult>(pair, cmd, budget);
      const calls = Math.max(1, r.completed);
      const values = {
        ...r,
        capHit: r.capHit ? 1 : 0,
        clientCpuUs: (r.clientCpuMs * 1000) / calls,
        serverCpuUs: (serverCpuMs * 1000) / calls,
      };
      for (const what of [
        "p50",
        "p90",
        "p99",
        "p999",
        "max",
        "achieved",
        "clientCpuUs",
        "serverCpuUs",
        "sendLagP99",
        "capHit",
        "unfinished",
        "failed",
      ] as const) {
        record(results.latency, [transport, kind, load, what], values[what]);
      }
      notes.push(`${load} % p99 ${(r.p99 / 1000).toFixed(2)} ms${r.capHit ? " (cap hit)" : ""}`);
    }
    progress(`${transport} ${kind} round ${round}: ${notes.join(", ")}`);
  });
}

async function payloadPair(
  transport: Transport,
  kind: Kind,
  codec: Codec,
  round: number,
): Promise<void> {
  await withPair(kind, transport, codec, round, async (pair, step) => {
    step("warm-up");
    await warmUp(pair, "echo", 16, S.BENCH_WARMUP_MS / 2);
    const notes: string[] = [];
    for (const size of PAYLOAD_SIZES) {
      for (const n of size.inFlights) {
        step(`echo ${size.label} × ${n}`);
        const { result, serverCpuMs } = await loop(pair, "echo", n, S.BENCH_MS, size.bytes);
        const at = [transport, kind, codec, size.bytes, n];
        const perSec = result.calls / result.seconds;
        record(results.payloads, [...at, "callsPerSec"], perSec);
        record(results.payloads, [...at, "mbPerSec"], (perSec * size.bytes) / 1e6);
        record(
          results.payloads,
          [...at, "clientCpuUs"],
          (result.clientCpuMs * 1000) / result.calls,
        );
        record(results.payloads, [...at, "serverCpuUs"], (serverCpuMs * 1000) / result.calls);
        notes.push(`${size.label}×${n} ${((perSec * size.bytes) / 1e6).toFixed(1)} MB/s`);
      }
    }
    progress(`${transport} ${kind} ${codec} round ${round}: ${notes.join(", ")}`);
  });
}

// ------------------------------------------------------------------------------- the plan

const supported = (t: Transport, codec: Codec) =>
  S.BENCH_KINDS.filter((k) => contenders[k].supports(t, codec));
const rotate = <T>(items: T[], by: number) => [
  ...items.slice(by % items.length),
  ...items.slice(0, by % items.length),
];
/** Seconds each step is expected to take; a fresh pair costs about 3 s to start and stop. */
const secs = {
  calibrate: 3 + (S.BENCH_WARMUP_MS + S.BENCH_MS) / 1000,
  main: 3 + (S.BENCH_WARMUP_MS + 2 * S.BENCH_MS + 3 * (RAMP_MS + S.BENCH_LATENCY_MS + 300)) / 1000,
  payload: 3 + (S.BENCH_WARMUP_MS / 2 + 6 * S.BENCH_MS) / 1000,
};
const steps: { secs: number; run: () => Promise<void> }[] = [];
const skipped: string[] = [];
for (const t of S.BENCH_TRANSPORTS) {
  steps.push({ secs: secs.calibrate, run: () => calibrate(t) });
  const kinds = supported(t, "json");
  for (const k of S.BENCH_KINDS.filter((k) => !kinds.includes(k))) skipped.push(`${k} on ${t}`);
  for (let r = 1; r <= S.BENCH_ROUNDS; r++) {
    for (const k of rotate(kinds, r - 1))
      steps.push({ secs: secs.main, run: () => mainPair(t, k, r) });
  }
  if (!S.BENCH_PAYLOADS || !PAYLOAD_TRANSPORTS.includes(t)) continue;
  const combos = (["json", "msgpack"] as const).flatMap((c) =>
    supported(t, c).map((k) => [k, c] as const),
  );
  for (const k of S.BENCH_KINDS.filter((k) => !supported(t, "msgpack").includes(k))) {
    skipped.push(`${k} msgpack payloads on ${t}`);
  }
  for (let r = 1; r <= S.BENCH_ROUNDS; r++) {
    for (const [k, c] of rotate([...combos], r - 1))
      steps.push({ secs: secs.payload, run: () => payloadPair(t, k, c, r) });
  }
}

const started = Date.now();
let plannedDone = 0;
const planned = steps.reduce((sum, s) => sum + s.secs, 0);
const clock = (seconds: number) => {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
function progress(line: string): void {
  const elapsed = (Date.now() - started) / 1000;
  const left = plannedDone > 0 ? ((planned - plannedDone) * elapsed) / plannedDone : planned;
  console.error(`[${clock(elapsed)}, ~${clock(left)} left] ${line}`);
}

const git = (...args: string[]) =>
  execFileSync("git", ["--no-optional-locks", ...args], { cwd: ROOT, encoding: "utf8" }).trim();
const osName = /PRETTY_NAME="([^"]*)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
setClockTicks(Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" })) || 100);
results.meta = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGB: +(totalmem() / 2 ** 30).toFixed(1),
    os: osName ?? "unknown",
    kernel: release(),
  },
  node: process.version,
  git: { commit: git("rev-parse", "HEAD"), dirty: git("status", "--porcelain") !== "" },
  settings: { ...S, rampMs: RAMP_MS, codecForThroughputAndLatency: "json" },
  env: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("BENCH_"))),
  rates: {},
  complete: false,
};
mkdirSync(dirname(S.BENCH_RESULTS), { recursive: true });
const save = () => writeFileSync(S.BENCH_RESULTS, `${JSON.stringify(results, null, 2)}\n`);

console.error(
  `${steps.length} pairs, estimated ${clock(planned)} (min:s); results → ${S.BENCH_RESULTS}`,
);
if (skipped.length) console.error(`not supported, skipped: ${skipped.join(", ")}`);
for (const step of steps) {
  await step.run();
  plannedDone += step.secs;
  save();
}
results.meta.complete = true;
save();
console.log(`\n${reportMarkdown(results)}\n`);
const charts = writeCharts(S.BENCH_RESULTS);
console.error(`charts: ${charts.join(", ")}`);
