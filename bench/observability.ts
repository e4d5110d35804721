// Shared by bench/local-call and bench/remote-call: the observability configurations they compare
// (tracing off, the tracing API without an SDK, the OpenTelemetry SDK at 100 % and 10 %, metrics;
// Moleculer plain and with its tracing and metrics), and the plumbing that runs each
// configuration in a child process of its own (the SDK is process-global) and interleaves rounds
// across them.
import { type ChildProcess, fork } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-node";
import type { BrokerOptions } from "flotilla";
import { measure, type Row } from "./lib.js";

/** How a Flotilla broker of the bench is set up. */
export type FlotillaConfig = "off" | "default" | "sdk100" | "sdk10" | "metrics";

export const flotillaConfigs: Record<FlotillaConfig, { label: string; note: string }> = {
  off: { label: "tracing: false (baseline)", note: "no tracing middleware at all" },
  default: { label: "", note: "default options: tracing API, no SDK registered" },
  sdk100: { label: "OTel SDK, 100 % sampled", note: "app-registered SDK, every trace kept" },
  sdk10: { label: "OTel SDK, 10 % sampled", note: "app-registered SDK, parent-based 10 %" },
  metrics: { label: "metrics: true", note: "prom-client metrics, per-broker registry" },
};

/** The row name of a Flotilla configuration: `"<base>, <label>"`, or `base` for the default. */
export function flotillaRow(base: string, config: FlotillaConfig): string {
  const label = flotillaConfigs[config].label;
  return label === "" ? base : `${base}, ${label}`;
}

/** What a bench process registered: the spans its exporter was handed. */
export interface SdkHandle {
  /** Spans handed to the exporter so far. */
  exported(): number;
  /** Exports what the batch processor still holds. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Registers the OpenTelemetry SDK the way an application does, before any broker starts:
 * `NodeTracerProvider` (AsyncLocalStorage context manager, W3C propagators), a parent-based
 * sampler keeping `ratio` of new traces, and a `BatchSpanProcessor` with its default settings
 * (queue 2,048, batches of 512, every 5 s). Its exporter only counts the spans and reports
 * success, so what is measured is making, sampling, ending and batching spans, not exporting
 * them (serializing and sending are the exporter's cost, whichever framework made the spans).
 */
export async function installSdk(ratio: number): Promise<SdkHandle> {
  const { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } =
    await import("@opentelemetry/sdk-trace-node");
  let count = 0;
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      count += spans.length;
      done({ code: 0 }); // ExportResultCode.SUCCESS
    },
    shutdown: async () => {},
  };
  const provider = new NodeTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  return {
    exported: () => count,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * Sets up a bench process for `config` (the SDK, when it has one, is registered now, before the
 * broker starts) and returns the broker options that go with it.
 */
export async function setUpFlotilla(
  config: FlotillaConfig,
): Promise<{ options: BrokerOptions; sdk: SdkHandle | undefined }> {
  switch (config) {
    case "off":
      return { options: { tracing: false }, sdk: undefined };
    case "default":
      return { options: {}, sdk: undefined };
    case "sdk100":
      return { options: {}, sdk: await installSdk(1) };
    case "sdk10":
      return { options: {}, sdk: await installSdk(0.1) };
    case "metrics":
      return { options: { metrics: true }, sdk: undefined };
  }
}

/**
 * Moleculer with its tracing and metrics on, as fairly as Flotilla's SDK rows: every action
 * traced (sampling rate 1) into an exporter that drops the spans (Moleculer's base exporter,
 * whose hooks do nothing), and every metric collected into its registry with no reporter (nothing
 * is served or pushed; Flotilla's registry is not scraped either).
 */
export async function moleculerObservability(): Promise<Record<string, unknown>> {
  const { TracerExporters } = await import("moleculer");
  class DropExporter extends TracerExporters.Base {}
  return {
    tracing: { enabled: true, exporter: new DropExporter({}), sampling: { rate: 1 } },
    metrics: { enabled: true },
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: each holds one configuration and measures its contenders when asked.

type ToChild =
  | { cmd: "measure"; contender: string; inFlight: number; ms: number; warmup: Warmup }
  | { cmd: "finish" };
/** An unmeasured run before a process's first measurement. */
export interface Warmup {
  ms: number;
  inFlight: number;
}

type FromChild =
  | { type: "ready"; contenders: string[] }
  | { type: "measured"; opsPerSec: number }
  | { type: "finished"; extra: Record<string, unknown> };

/**
 * The child's side: measures its contenders when the parent asks, runs `finish` (leak checks,
 * span counts) at the end, reports what it returns, and exits.
 */
export function serveContenders(
  contenders: Record<string, () => Promise<unknown>>,
  finish: () => Promise<Record<string, unknown>> = async () => ({}),
): void {
  const send = (msg: FromChild) => process.send?.(msg);
  const warmed = new Set<string>();
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (msg: ToChild) => {
    if (msg.cmd === "measure") {
      const op = contenders[msg.contender];
      if (op === undefined) throw new Error(`no contender ${msg.contender}`);
      // The first time in this process: run it unmeasured for a while (see runRounds).
      if (!warmed.has(msg.contender) && msg.warmup.ms > 0) {
        await measure(op, msg.warmup.inFlight, msg.warmup.ms);
      }
      warmed.add(msg.contender);
      send({ type: "measured", opsPerSec: await measure(op, msg.inFlight, msg.ms) });
    } else {
      send({ type: "finished", extra: await finish() });
      process.disconnect();
    }
  });
  send({ type: "ready", contenders: Object.keys(contenders) });
}

/** The parent's side of one child process. */
export interface Child {
  readonly config: string;
  readonly contenders: readonly string[];
  measure(contender: string, inFlight: number, ms: number, warmup: Warmup): Promise<number>;
  finish(): Promise<Record<string, unknown>>;
  kill(): void;
}

/**
 * V8 flags of the measured processes: `BENCH_NODE_FLAGS` when set, else the bench's own default
 * (`--no-concurrent-recompilation` for local calls, none for remote calls; see
 * bench/local-call/run.ts for why).
 */
export function childNodeFlags(byDefault: readonly string[]): string[] {
  const set = process.env.BENCH_NODE_FLAGS;
  return set === undefined ? [...byDefault] : set.split(/\s+/).filter((flag) => flag !== "");
}

/**
 * Forks `script` (with this process's Node flags and `nodeFlags`) with `BENCH_CHILD=config`, once
 * it is ready.
 */
export async function startChild(
  script: string,
  config: string,
  nodeFlags: readonly string[] = [],
): Promise<Child> {
  // Settings from the environment that would turn tracing or metrics on in every configuration.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("OTEL_") && k !== "FLOTILLA_METRICS"),
  );
  const proc: ChildProcess = fork(script, [], {
    execArgv: [...process.execArgv, ...nodeFlags],
    env: { ...env, BENCH_CHILD: config },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<FromChild>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${config} child exited (${code})`));
      proc.once("exit", onExit);
      proc.once("message", (msg: FromChild) => {
        proc.off("exit", onExit);
        resolve(msg);
      });
    });
  const ready = await next();
  if (ready.type !== "ready") throw new Error(`${config} child: unexpected ${ready.type}`);
  const ask = async (msg: ToChild) => {
    const reply = next();
    proc.send(msg);
    return reply;
  };
  return {
    config,
    contenders: ready.contenders,
    async measure(contender, inFlight, ms, warmup) {
      const reply = await ask({ cmd: "measure", contender, inFlight, ms, warmup });
      if (reply.type !== "measured") throw new Error(`${config} child: unexpected ${reply.type}`);
      return reply.opsPerSec;
    },
    async finish() {
      const reply = await ask({ cmd: "finish" });
      if (reply.type !== "finished") throw new Error(`${config} child: unexpected ${reply.type}`);
      return reply.extra;
    },
    kill: () => proc.kill(),
  };
}

/** Every round's figure of each contender, per number in flight. */
export type Samples = Map<string, Map<number, number[]>>;

/** How much other work on the machine disturbed the measurements, and what was redone for it. */
export interface Quiet {
  /** Most CPU others may use during a measurement (cores); over it the measurement is redone. */
  limitCores: number;
  /** Measurements redone because others used more than the limit while they ran. */
  redone: number;
  /** Seconds spent waiting for the machine to be quiet before measuring. */
  waitedSeconds: number;
  /** The most CPU others used during a kept measurement (cores). */
  maxForeignKept: number;
  /** Measurements kept although others used more than the limit (after 6 attempts). */
  keptOverLimit: number;
}

/**
 * Each round starts every configuration in fresh processes, one after the other (the machine has
 * two cores), measures each number in flight, and stops them; the order is rotated by one each
 * round so that no configuration always follows the same one. Fresh processes matter: the JIT
 * does not settle the same way in every process (the same broker measured 11 times in one
 * process ran at 11 M calls/s throughout, the same code in another process at 15 M), so a
 * figure is only repeatable as the median over several processes. A configuration's r-th figure
 * pairs with its baseline's r-th (see {@link costOf}). What each child's `finish` returns is kept
 * from the last round. A fresh process is young: before its first measurement it runs the
 * contender unmeasured for `warmupMs` with the most calls in flight (on top of the half second
 * `measure` always runs first). Without it, remote calls made one at a time were measured while
 * the JIT was still at work on them (at a few thousand calls a second, functions take seconds to
 * get hot): a fresh pair with Flotilla's defaults made 7.5k, 11.5k, 14.2k, 14.7k, 14.1k calls/s
 * in five 2-second windows, the SDK at 100 % 6.4k, then 10.4k, 10.1k, 10.2k, 10.6k.
 *
 * The machine is shared, so each measurement waits until other processes use less than
 * `BENCH_FOREIGN_LIMIT` cores (default 0.15) over half a second, and is redone (up to 5 times)
 * when they used more than that while it ran: "others" is the machine's user and system CPU
 * time (`/proc/stat`) less that of this process tree. `BENCH_FOREIGN_LIMIT=Infinity` turns this
 * off.
 */
export async function runRounds(
  configs: readonly string[],
  start: (config: string) => Promise<Child>,
  inFlights: readonly number[],
  rounds: number,
  ms: number,
  warmupMs: number,
): Promise<{ samples: Samples; quiet: Quiet; extras: Record<string, Record<string, unknown>> }> {
  const limit = Number(process.env.BENCH_FOREIGN_LIMIT ?? 0.15);
  const quiet: Quiet = {
    limitCores: limit,
    redone: 0,
    waitedSeconds: 0,
    maxForeignKept: 0,
    keptOverLimit: 0,
  };
  const samples: Samples = new Map();
  const extras: Record<string, Record<string, unknown>> = {};
  for (let r = 0; r < rounds; r++) {
    const order = [...configs.slice(r % configs.length), ...configs.slice(0, r % configs.length)];
    for (const config of order) {
      const child = await start(config);
      try {
        for (const name of child.contenders) {
          for (const n of inFlights) {
            for (let attempt = 0; ; attempt++) {
              quiet.waitedSeconds += await waitForQuiet(limit);
              const before = cpuTimes();
              const warmup = { ms: warmupMs, inFlight: Math.max(...inFlights) };
              const value = await child.measure(name, n, ms, warmup);
              const foreign = foreignCores(before, cpuTimes());
              const tag = `  round ${r + 1}/${rounds}, ${n} in flight: ${name} ${value}`;
              const others = foreign === undefined ? "" : ` (others ${foreign.toFixed(2)} cores)`;
              const over = foreign !== undefined && foreign > limit;
              if (over && attempt < 5) {
                quiet.redone++;
                process.stderr.write(`${tag}${others}: redone\n`);
                continue;
              }
              if (over) quiet.keptOverLimit++;
              quiet.maxForeignKept = Math.max(quiet.maxForeignKept, +(foreign ?? 0).toFixed(2));
              if (!samples.has(name)) samples.set(name, new Map());
              const byN = samples.get(name)!;
              byN.set(n, [...(byN.get(n) ?? []), value]);
              process.stderr.write(`${tag}${others}\n`);
              break;
            }
          }
        }
        extras[config] = await child.finish();
      } finally {
        child.kill();
      }
    }
  }
  quiet.waitedSeconds = +quiet.waitedSeconds.toFixed(1);
  return { samples, quiet, extras };
}

interface CpuTimes {
  at: number;
  /** User and system ticks of the whole machine, and of this process and its descendants. */
  machine: number;
  mine: number;
}

/** CPU ticks (`/proc`, 1/100 s) of the machine and of this process tree; undefined off Linux. */
function cpuTimes(): CpuTimes | undefined {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.split(/\s+/);
    const machine = Number(cpu[1]) + Number(cpu[2]) + Number(cpu[3]);
    const procs = new Map<number, { ppid: number; ticks: number }>();
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // After the name: state, ppid, ... utime (14th field of the line), stime (15th).
        procs.set(Number(entry), {
          ppid: Number(fields[1]),
          ticks: Number(fields[11]) + Number(fields[12]),
        });
      } catch {
        // The process ended meanwhile.
      }
    }
    let mine = 0;
    for (const [pid, p] of procs) {
      let cur: number | undefined = pid;
      while (cur !== undefined && cur > 1 && cur !== process.pid) cur = procs.get(cur)?.ppid;
      if (cur === process.pid) mine += p.ticks;
    }
    return { at: performance.now(), machine, mine };
  } catch {
    return undefined;
  }
}

/** Cores that processes outside this tree kept busy between two readings. */
function foreignCores(a: CpuTimes | undefined, b: CpuTimes | undefined): number | undefined {
  if (a === undefined || b === undefined) return undefined;
  const seconds = (b.at - a.at) / 1000;
  return Math.max(0, (b.machine - a.machine - (b.mine - a.mine)) / 100 / seconds);
}

/** Waits (up to 5 minutes) for half a second in which others use at most `limit` cores. */
async function waitForQuiet(limit: number): Promise<number> {
  if (!Number.isFinite(limit)) return 0;
  const started = performance.now();
  while (performance.now() - started < 300_000) {
    const a = cpuTimes();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const foreign = foreignCores(a, cpuTimes());
    if (foreign === undefined || foreign <= limit) break;
  }
  const waited = (performance.now() - started) / 1000 - 0.5;
  return +Math.max(0, waited).toFixed(1);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return 0;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A row with its median and the spread of its rounds. */
export interface SpreadRow extends Row {
  min: number;
  max: number;
  rounds: number[];
}

export function rowsOf(samples: Samples, inFlights: readonly number[]): SpreadRow[] {
  return inFlights.flatMap((n) =>
    [...samples].map(([name, byN]) => {
      const xs = byN.get(n) ?? [];
      return {
        name,
        inFlight: n,
        opsPerSec: Math.round(median(xs)),
        min: Math.min(...xs),
        max: Math.max(...xs),
        rounds: xs,
      };
    }),
  );
}

/**
 * What `name` costs against `baseline`: the ratio of medians, and the ratio of each round's
 * figures (taken minutes apart at most, in the same round), median and spread. Cost is
 * `1 - ratio`, in percent.
 */
export function costOf(samples: Samples, name: string, baseline: string, n: number) {
  const xs = samples.get(name)?.get(n) ?? [];
  const bs = samples.get(baseline)?.get(n) ?? [];
  const paired = xs.map((x, i) => x / (bs[i] ?? Number.NaN));
  const ratio = median(xs) / median(bs);
  const pct = (r: number) => +((1 - r) * 100).toFixed(1);
  return {
    baseline,
    ratioOfMedians: +ratio.toFixed(3),
    costPercent: pct(ratio),
    perRoundRatio: {
      median: +median(paired).toFixed(3),
      min: +Math.min(...paired).toFixed(3),
      max: +Math.max(...paired).toFixed(3),
    },
    perRoundCostPercent: pct(median(paired)),
  };
}

/** `19.1M (18.7M–19.4M)`: a figure with its spread, as the README's tables show them. */
export function formatSpread(row: SpreadRow): string {
  return `${short(row.opsPerSec)} (${short(row.min)}–${short(row.max)})`;
}

export function short(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e7 ? 1 : 2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  return String(Math.round(x));
}

/** Prints every row with its spread and its cost against `baselineOf(name)`. */
export function printCosts(
  samples: Samples,
  rows: readonly SpreadRow[],
  baselineOf: (name: string) => string | undefined,
): void {
  for (const row of rows) {
    const baseline = baselineOf(row.name);
    const cost =
      baseline === undefined || baseline === row.name || !samples.has(baseline)
        ? ""
        : (() => {
            const c = costOf(samples, row.name, baseline, row.inFlight);
            return `  cost ${c.costPercent}% (per round ${c.perRoundCostPercent}%, ratios ${c.perRoundRatio.min}–${c.perRoundRatio.max})`;
          })();
    console.log(
      `${row.name.padEnd(52)} ${String(row.inFlight).padStart(3)}  ${formatSpread(row).padEnd(26)}${cost}`,
    );
  }
}
