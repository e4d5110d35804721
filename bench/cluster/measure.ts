// One measurement: a fresh cluster of N nodes of one system in `workers` fresh processes,
// through its phases: start and converge, rest, heap, kill one worker and wait until the others
// notice. Everything a phase needs to know comes from inside the workers (over IPC).
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type MachineTimes,
  machineTimes,
  natsServerPid,
  processSeconds,
  waitForQuiet,
} from "./machine.js";
import {
  addTraffic,
  type ClusterSpec,
  emptyTraffic,
  type Flow,
  KINDS,
  type Kind,
  now,
  type Sample,
  type Traffic,
  trafficDelta,
} from "./protocol.js";
import type { System } from "./systems.js";
import { TimeoutError, Worker } from "./workers.js";

export interface MeasureOptions {
  workers: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  /** Nodes started per second, cluster-wide (0: all at once). */
  startRate: number;
  /** Measure the rest window and the heap (false: only convergence and notice). */
  atRest: boolean;
  /** Wait after convergence before the rest window opens. */
  settleMs: number;
  restMs: number;
  convergeTimeoutMs: number;
  natsUrl: string;
  /** Extra Node flags of the workers. */
  workerFlags: string[];
  /** Before each measurement, wait (at most `quietMaxWaitMs`) until others use fewer cores. */
  quietLimitCores: number;
  quietMaxWaitMs: number;
}

/** Per node and per second, by kind, received (delivered to the node) and sent. */
export type Rates = Record<"sent" | "received", Record<Kind, Flow>>;

/** How busy the machine was during a phase. */
export interface Load {
  /** Cores used by the workers, the (shared) nats-server, the whole machine, and all others. */
  workersCores: number;
  natsServerCores?: number | undefined;
  machineCores?: number | undefined;
  othersCores?: number | undefined;
  /** The longest event-loop delay of any worker, ms. */
  loopDelayMaxMs: number;
}

export interface Measurement {
  system: string;
  size: number;
  round: number;
  /** Start of the last node → every node sees all N-1 others (ms); absent when it never did. */
  convergeMs?: number;
  /** Start of the last node → the last `start()` resolved (ms). */
  startMs?: number;
  /** From the start signal to convergence (or to the timeout), per node; and the machine. */
  toConverge?: { cpuMs: number; traffic: Traffic; load: Load };
  rest?: {
    seconds: number;
    /** Worker CPU per node, ms per second (1 ms/s = 0.1 % of a core). */
    cpuMsPerNodePerSec: number;
    perNodePerSec: Rates;
    /** The fewest others any node saw during the window (N-1 when nothing flapped). */
    minSeen: number;
  } & Load;
  heap?: {
    /** Heap after GC, all workers, per node (bytes). */
    perNode: number;
    /** Heap after GC less the heap with the nodes made but not started, per node. */
    joinedPerNode: number;
    rssPerNode: number;
  };
  notice?: {
    /** Nodes on the killed worker. */
    killed: number;
    /** SIGKILL → every surviving node dropped every killed one (ms). */
    lastMs?: number;
    /** SIGKILL → the first surviving node did (ms). */
    firstMs?: number;
  };
  /** How long the measurement waited for a quieter machine, and how busy it was then. */
  quiet?: { waitedSeconds: number; busyCores: number | undefined };
  /** Why a phase did not finish. */
  error?: string;
  /** How long the whole measurement took, s. */
  seconds?: number;
}

let serial = 0;

export async function measure(
  name: string,
  system: System,
  size: number,
  round: number,
  opts: MeasureOptions,
): Promise<Measurement> {
  const out: Measurement = { system: name, size, round };
  const began = performance.now();
  const tag = `c${process.pid}x${++serial}`;
  const dir = mkdtempSync(join(tmpdir(), "flotilla-cluster-"));
  const ports = system.fixedPorts ? await freePorts(size) : [];
  const spec: ClusterSpec = {
    system: name,
    namespace: `bench-${tag}`,
    nodes: Array.from({ length: size }, (_, i) => ({
      nodeID: `${tag}-n${String(i).padStart(3, "0")}`,
      port: ports[i] ?? 0,
    })),
    heartbeatInterval: opts.heartbeatInterval,
    heartbeatTimeout: opts.heartbeatTimeout,
    dir,
    natsUrl: opts.natsUrl,
    settings: {},
  };
  const prepared = await system.prepare?.(spec);
  if (prepared !== undefined) spec.settings = prepared.settings;
  const k = Math.min(opts.workers, size);
  const shares = Array.from({ length: k }, (_, w) =>
    spec.nodes.map((_, i) => i).filter((i) => i % k === w),
  );
  natsPid = system.nats ? natsServerPid(Number(new URL(opts.natsUrl).port || 4222)) : undefined;
  out.quiet = await waitForQuiet(opts.quietLimitCores, opts.quietMaxWaitMs);
  const workers = shares.map((_, w) => new Worker(w, opts.workerFlags));
  try {
    const ready = await Promise.all(
      workers.map((w, i) => w.ask({ type: "init", spec, mine: shares[i]! }, "ready", 120_000)),
    );
    const baselineHeaps = ready.map((r) => r.baselineHeap);
    await converge(out, spec, workers, opts);
    if (out.convergeMs === undefined) return out;
    if (opts.atRest) {
      await rest(out, workers, size, opts);
      await heap(out, workers, size, baselineHeaps);
    }
    await notice(out, spec, workers, shares, opts);
  } catch (err) {
    out.error = err instanceof TimeoutError ? err.message : String((err as Error)?.stack ?? err);
  } finally {
    // Workers exit by themselves when asked (a profiler writes its file then); the rest are killed.
    await Promise.all(workers.map((w) => w.exit(1000)));
    await prepared?.stop();
    rmSync(dir, { recursive: true, force: true });
    out.seconds = Math.round((performance.now() - began) / 100) / 10;
  }
  return out;
}

/** The workers' samples and the machine's clocks at one instant. */
interface Snapshot {
  samples: Sample[];
  nats: number | undefined;
  machine: MachineTimes | undefined;
}

/** What happened between two snapshots, cluster-wide. */
interface Window {
  seconds: number;
  cpuMs: number;
  traffic: Traffic;
  /** Cores used by the workers, the nats-server, the machine, and everything else. */
  workersCores: number;
  natsServerCores?: number;
  machineCores?: number;
  othersCores?: number;
  loopDelayMaxMs: number;
  minSeen: number;
}

let natsPid: number | undefined;

function snapshot(samples: Sample[]): Snapshot {
  return { samples, nats: processSeconds(natsPid), machine: machineTimes() };
}

async function snap(workers: Worker[]): Promise<Snapshot> {
  const answers = await Promise.all(
    workers.map((w) => w.ask({ type: "sample" }, "sampled", 30_000)),
  );
  return snapshot(answers.map((a) => a.sample));
}

function windowOf(a: Snapshot, b: Snapshot): Window {
  const seconds =
    (Math.max(...b.samples.map((s) => s.at)) - Math.min(...a.samples.map((s) => s.at))) / 1000;
  const cpu = sum(b.samples.map((s, i) => cpuMs(a.samples[i]!, s)));
  const traffic = b.samples.reduce(
    (acc, s, i) => addTraffic(acc, trafficDelta(a.samples[i]!.traffic, s.traffic)),
    emptyTraffic(),
  );
  const nats =
    a.nats !== undefined && b.nats !== undefined ? (b.nats - a.nats) / seconds : undefined;
  const machine =
    a.machine !== undefined && b.machine !== undefined
      ? (b.machine.busy - a.machine.busy) / seconds
      : undefined;
  const workersCores = cpu / 1000 / seconds;
  return {
    seconds: round1(seconds),
    cpuMs: cpu,
    traffic,
    workersCores: round2(workersCores),
    ...(nats === undefined ? {} : { natsServerCores: round2(nats) }),
    ...(machine === undefined ? {} : { machineCores: round2(machine) }),
    ...(machine === undefined
      ? {}
      : { othersCores: round2(Math.max(0, machine - workersCores - (nats ?? 0))) }),
    loopDelayMaxMs: Math.max(...b.samples.map((s) => s.loopDelayMaxMs)),
    minSeen: Math.min(...b.samples.map((s) => s.minSeen)),
  };
}

/** The machine-wide figures of a window, for the results file. */
function load(w: Window) {
  const { workersCores, natsServerCores, machineCores, othersCores, loopDelayMaxMs } = w;
  return { workersCores, natsServerCores, machineCores, othersCores, loopDelayMaxMs };
}

async function converge(
  out: Measurement,
  spec: ClusterSpec,
  workers: Worker[],
  opts: MeasureOptions,
): Promise<void> {
  const before = await snap(workers);
  const at = now() + 50;
  for (const w of workers) w.send({ type: "start", at, rate: opts.startRate });
  const startingMs = opts.startRate > 0 ? (spec.nodes.length * 1000) / opts.startRate : 0;
  const started = await Promise.all(workers.map((w) => w.next("started", startingMs + 60_000)));
  const t0 = Math.max(...started.map((s) => s.lastStartAt));
  try {
    const done = await Promise.all(workers.map((w) => w.next("converged", opts.convergeTimeoutMs)));
    const after = snapshot(done.map((d) => d.sample));
    out.convergeMs = round1(Math.max(...done.map((d) => d.at)) - t0);
    out.startMs = round1(Math.max(...done.map((d) => d.startedAllAt)) - t0);
    const n = spec.nodes.length;
    const w = windowOf(before, after);
    out.toConverge = {
      cpuMs: round1(w.cpuMs / n),
      traffic: scale(w.traffic, 1 / n),
      load: load(w),
    };
  } catch (err) {
    if (!(err instanceof TimeoutError)) throw err;
    // Say how far it got: the fewest others any node saw, and how loaded the machine was.
    const w = windowOf(before, await snap(workers));
    out.toConverge = {
      cpuMs: round1(w.cpuMs / spec.nodes.length),
      traffic: scale(w.traffic, 1 / spec.nodes.length),
      load: load(w),
    };
    out.error = `not converged in ${opts.convergeTimeoutMs} ms (fewest seen now: ${w.minSeen} of ${spec.nodes.length - 1}; longest event-loop delay ${w.loopDelayMaxMs} ms)`;
  }
}

async function rest(
  out: Measurement,
  workers: Worker[],
  size: number,
  opts: MeasureOptions,
): Promise<void> {
  await sleep(opts.settleMs);
  const a = await snap(workers);
  await sleep(opts.restMs);
  const w = windowOf(a, await snap(workers));
  out.rest = {
    seconds: w.seconds,
    cpuMsPerNodePerSec: round1(w.cpuMs / size / w.seconds),
    perNodePerSec: scale(w.traffic, 1 / size / w.seconds),
    ...load(w),
    minSeen: w.minSeen,
  };
}

/** `base`: each worker's heap with its nodes made but not started. */
async function heap(
  out: Measurement,
  workers: Worker[],
  size: number,
  base: number[],
): Promise<void> {
  const heaps = await Promise.all(workers.map((w) => w.ask({ type: "heap" }, "heaped", 30_000)));
  out.heap = {
    perNode: Math.round(sum(heaps.map((h) => h.heapUsed)) / size),
    joinedPerNode: Math.round(sum(heaps.map((h, i) => h.heapUsed - (base[i] ?? 0))) / size),
    rssPerNode: Math.round(sum(heaps.map((h) => h.rss)) / size),
  };
}

/** SIGKILLs the last worker and waits until every node of the others has dropped its nodes. */
async function notice(
  out: Measurement,
  spec: ClusterSpec,
  workers: Worker[],
  shares: number[][],
  opts: MeasureOptions,
): Promise<void> {
  if (workers.length < 2) return;
  const victim = workers[workers.length - 1]!;
  const survivors = workers.slice(0, -1);
  const gone = shares[victim.index]!.map((i) => spec.nodes[i]!.nodeID);
  out.notice = { killed: gone.length };
  await Promise.all(survivors.map((w) => w.ask({ type: "watch", gone }, "watching", 10_000)));
  const killedAt = now();
  victim.kill();
  const budget = 3 * opts.heartbeatTimeout + 20_000;
  const noticed = await Promise.all(survivors.map((w) => w.next("noticed", budget)));
  out.notice.lastMs = round1(Math.max(...noticed.map((n) => n.lastAt)) - killedAt);
  out.notice.firstMs = round1(Math.min(...noticed.map((n) => n.firstAt)) - killedAt);
}

/** `count` ports on 127.0.0.1 that are free now, below the ephemeral range (from 21000). */
async function freePorts(count: number): Promise<number[]> {
  const found: number[] = [];
  for (let port = 21_000 + Math.floor(Math.random() * 50) * 100; found.length < count; port++) {
    if (port > 32_000) throw new Error("no free ports below 32000");
    if (await canListen(port)) found.push(port);
  }
  return found;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function cpuMs(a: Sample, b: Sample): number {
  return (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1000;
}

function scale(t: Traffic, factor: number): Traffic {
  const out = emptyTraffic();
  for (const dir of ["sent", "received"] as const) {
    for (const kind of KINDS) {
      out[dir][kind].packets = round2(t[dir][kind].packets * factor);
      out[dir][kind].bytes = Math.round(t[dir][kind].bytes * factor);
    }
  }
  return out;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
