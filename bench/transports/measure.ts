// How the client child measures (closed loop for throughput, open loop for latency), and the
// one-JSON-line protocol between the runner (run.ts) and its children (child.ts).
import { readFileSync } from "node:fs";
import { build, type Histogram } from "hdr-histogram-js";

/** Every protocol line starts with this, so a contender's own stdout logging is told apart. */
export const LINE_PREFIX = "@bench ";

/** What the runner asks the client child to do; one JSON line on its stdin. */
export type Command =
  /** Closed loop: `inFlight` loops calling back to back for `ms` (echo: a string of `size` B). */
  | { op: "loop"; call: "add" | "echo"; size?: number; inFlight: number; ms: number; warmup?: true }
  /** Open loop: `add()` on a fixed schedule of `rate` calls/s, see openLoop. */
  | { op: "latency"; rate: number; rampMs: number; ms: number; cap: number };

/** A closed-loop window: calls completed, its length, and the client's CPU over it. */
export interface LoopResult {
  calls: number;
  seconds: number;
  clientCpuMs: number;
}

/** An open-loop window, latencies in µs (completion − intended start). */
export interface LatencyResult {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Calls completed inside the recorded window, per second. */
  achieved: number;
  /** Calls completed inside the recorded window (the divisor of the CPU per call). */
  completed: number;
  clientCpuMs: number;
  /** How late the client itself sent calls (its timer granularity), µs; part of every latency. */
  sendLagP50: number;
  sendLagP99: number;
  /** Whether the cap on outstanding calls held sends back at some point. */
  capHit: boolean;
  /** Calls of the window not answered by the end of the drain (recorded with a lower bound). */
  unfinished: number;
  failed: number;
}

/** One line from a child: ready, a CPU mark (the runner reads the server's CPU), a result. */
export type Reply =
  | { ready: true; pid: number }
  | { mark: "start" | "stop" }
  | { result: LoopResult | LatencyResult }
  | { error: string };

export const send = (reply: Reply): void => {
  process.stdout.write(`${LINE_PREFIX}${JSON.stringify(reply)}\n`);
};

const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

let clockTicks = 100;
/** Sets the kernel's clock ticks per second (`getconf CLK_TCK`), the unit of /proc stat times. */
export const setClockTicks = (ticks: number): void => {
  clockTicks = ticks;
};

/** CPU time (user + system, all threads) another process has used so far, in ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (the command name) may hold spaces and parentheses: count fields after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicks;
}

/**
 * Runs `op` in `inFlight` loops for `ms` and counts completions. The clock is read after every
 * call (a remote call costs tens of µs at least, a 1 MB echo milliseconds, so neither overruns
 * the window). The window ends when the last loop stops; CPU and marks frame exactly that window.
 */
export async function closedLoop(
  op: () => Promise<unknown>,
  inFlight: number,
  ms: number,
  mark: (at: "start" | "stop") => void,
): Promise<LoopResult> {
  mark("start");
  const cpu0 = cpuMs();
  const started = performance.now();
  const end = started + ms;
  let calls = 0;
  const loop = async () => {
    while (performance.now() < end) {
      await op();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const seconds = (performance.now() - started) / 1000;
  const clientCpuMs = cpuMs() - cpu0;
  mark("stop");
  return { calls, seconds, clientCpuMs };
}

const newHistogram = (): Histogram =>
  build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60e6,
    numberOfSignificantValueDigits: 3,
  });

/** µs between two performance.now() readings, clamped into the histogram's range. */
const micros = (from: number, to: number): number =>
  Math.min(60e6, Math.max(1, Math.round((to - from) * 1000)));

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread for `ms` in the kernel (no spinning), precise to tens of µs where Node's
 * timers round up to whole ms. */
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/**
 * Open loop, free of coordinated omission: call i is due at t0 + i / rate whatever happened to
 * the calls before it, and its latency is counted from that intended start, so a contender that
 * falls behind shows the queueing it causes. Calls due in the first `rampMs` are not recorded.
 * Due calls go out on every completion, and else on time: a timer (whole ms) brings the loop to
 * within 1.5 ms of the next due call, and with no call outstanding (so no reply can wait
 * behind it) the thread sleeps the rest precisely. A due call found with calls outstanding waits
 * for the next completion or the timer. How late the client itself sent calls (the floor of
 * the method, plus whatever kept its event loop busy) is reported as the send lag.
 * Late calls are never dropped; at most `cap` are outstanding, later ones wait (and are
 * reported). After the window, outstanding calls get a drain of max(5 s, ms); what is still
 * unanswered then counts with its latency so far (a lower bound) and is reported.
 */
export function openLoop(
  op: () => Promise<unknown>,
  cmd: { rate: number; rampMs: number; ms: number; cap: number },
  mark: (at: "start" | "stop") => void,
): Promise<LatencyResult> {
  const latency = newHistogram();
  const lag = newHistogram();
  const interval = 1000 / cmd.rate;
  const t0 = performance.now() + 5;
  const windowStart = t0 + cmd.rampMs;
  const windowEnd = windowStart + cmd.ms;
  const firstRecorded = Math.ceil(cmd.rampMs / interval);
  const total = Math.ceil((cmd.rampMs + cmd.ms) / interval);
  const pending = new Set<number>();
  let next = 0;
  let completed = 0;
  let failed = 0;
  let capHit = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  let cpu0 = 0;
  let clientCpuMs = 0;
  return new Promise((resolve) => {
    const done = (index: number, ok: boolean) => {
      if (finished) return;
      pending.delete(index);
      if (!ok) failed++;
      const now = performance.now();
      if (index >= firstRecorded) latency.recordValue(micros(t0 + index * interval, now));
      if (now >= windowStart && now < windowEnd) completed++;
      if (next < total) pump();
      else maybeFinish();
    };
    const maybeFinish = () => {
      if (stopped && next >= total && pending.size === 0) finish();
    };
    const pump = () => {
      for (;;) {
        if (finished) return;
        let now = performance.now();
        while (next < total && t0 + next * interval <= now) {
          if (pending.size >= cmd.cap) {
            capHit = true;
            return; // completions call pump again as they free the way
          }
          const index = next++;
          if (index >= firstRecorded) lag.recordValue(micros(t0 + index * interval, now));
          pending.add(index);
          op().then(
            () => done(index, true),
            () => done(index, false),
          );
        }
        if (next >= total) return;
        now = performance.now();
        const gap = t0 + next * interval - now;
        if (pending.size > 0 || gap >= 2) {
          const wait = pending.size > 0 ? gap : gap - 1.5;
          timer ??= setTimeout(() => {
            timer = undefined;
            pump();
          }, wait);
          return;
        }
        if (gap > 0) sleep(gap);
      }
    };
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(drain);
      clearTimeout(timer);
      const now = performance.now();
      // Unanswered and never-sent calls of the window: their latency is at least this long.
      for (const index of pending) {
        if (index >= firstRecorded) latency.recordValue(micros(t0 + index * interval, now));
      }
      for (let index = Math.max(next, firstRecorded); index < total; index++) {
        latency.recordValue(micros(t0 + index * interval, now));
      }
      const unsent = total - Math.max(next, firstRecorded);
      const unfinished = [...pending].filter((i) => i >= firstRecorded).length + unsent;
      resolve({
        p50: latency.getValueAtPercentile(50),
        p90: latency.getValueAtPercentile(90),
        p99: latency.getValueAtPercentile(99),
        p999: latency.getValueAtPercentile(99.9),
        max: latency.maxValue,
        achieved: Math.round(completed / (cmd.ms / 1000)),
        completed,
        clientCpuMs,
        sendLagP50: lag.getValueAtPercentile(50),
        sendLagP99: lag.getValueAtPercentile(99),
        capHit,
        unfinished,
        failed,
      });
    };
    setTimeout(() => {
      mark("start");
      cpu0 = cpuMs();
    }, windowStart - performance.now());
    setTimeout(() => {
      clientCpuMs = cpuMs() - cpu0;
      mark("stop");
      stopped = true;
      maybeFinish();
    }, windowEnd - performance.now());
    const drain = setTimeout(finish, windowEnd - performance.now() + Math.max(5000, cmd.ms));
    timer = setTimeout(() => {
      timer = undefined;
      pump();
    }, t0 - performance.now());
  });
}
