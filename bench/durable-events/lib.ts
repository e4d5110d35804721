// What the durable-event benchmarks share: bounded publishing, counting acks, interleaved rounds
// with medians and their spread, and the report with what each contender does per message and
// where and on what the numbers were taken.
import { execFileSync } from "node:child_process";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { type Row, report } from "../lib.js";

/** Messages per round (`BENCH_N`, default 20 000). */
export const N = Number(process.env.BENCH_N ?? 20_000);
/** Interleaved rounds; each row is the median of its rounds (`BENCH_ROUNDS`, default 5). */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Publishes in flight at once. */
export const IN_FLIGHT = 100;
/** The event every contender publishes. */
export const payload = { orderId: 7, sku: "A-1", qty: 2 };

/** Runs `publish(i)` for i < n with at most IN_FLIGHT in flight. */
export async function publishAll(
  n: number,
  publish: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < n) await publish(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
}

/**
 * A promise that resolves when `done()` has been called n times, with the time of the last;
 * `count()` tells how many calls there were, to check afterwards that there were no more.
 */
export function counter(n: number): {
  done: () => void;
  count: () => number;
  all: Promise<number>;
} {
  let count = 0;
  let resolve!: (at: number) => void;
  const all = new Promise<number>((r) => {
    resolve = r;
  });
  return {
    done: () => {
      if (++count === n) resolve(performance.now());
    },
    count: () => count,
    all,
  };
}

/** One contender: `run(round, n)` delivers n messages end to end and returns messages/s. */
export interface Contender {
  readonly label: string;
  /** What it does per message (confirms, acks, retention, storage), for judging fairness. */
  readonly perMessage: string;
  readonly run: (round: string, n: number) => Promise<number>;
}

/** The benchmark's identity and what goes in its report besides the measured rows. */
export interface Comparison {
  bench: string;
  /** The Flotilla contender's label: ratios are Flotilla ÷ each other row. */
  flotilla: string;
  extra: Record<string, unknown>;
}

/** A measured row: the median of the rounds, with the slowest and fastest round beside it. */
interface SpreadRow extends Row {
  min: number;
  max: number;
}

/**
 * Warms every contender up once (JIT, the server's queues or files), then runs rounds that
 * interleave them, so a burst of noise on a shared machine decides nothing; reports medians with
 * their spread (min–max over the rounds).
 */
export async function compare(contenders: readonly Contender[], c: Comparison): Promise<void> {
  const samples: Record<string, number[]> = Object.fromEntries(
    contenders.map(({ label }) => [label, []]),
  );
  for (const { run } of contenders) await run("warm-up", Math.min(N, 5_000));
  for (let r = 0; r < ROUNDS; r++) {
    for (const { label, run } of contenders) {
      const opsPerSec = await run(String(r), N);
      samples[label]?.push(opsPerSec);
      console.log(`  round ${r + 1}: ${label.padEnd(48)} ${opsPerSec} msg/s`);
    }
  }
  const rows: SpreadRow[] = contenders.map(({ label }) => {
    const xs = samples[label] ?? [];
    return {
      name: label,
      inFlight: IN_FLIGHT,
      opsPerSec: median(xs),
      min: xs.length === 0 ? 0 : Math.min(...xs),
      max: xs.length === 0 ? 0 : Math.max(...xs),
    };
  });
  const flotilla = rows.find((r) => r.name === c.flotilla)?.opsPerSec ?? 0;
  const ratios = Object.fromEntries(
    rows
      .filter((r) => r.name !== c.flotilla && r.opsPerSec > 0)
      .map((r) => [r.name, +(flotilla / r.opsPerSec).toFixed(2)]),
  );
  report(c.bench, rows, {
    meta: runMeta(),
    messages: N,
    rounds: ROUNDS,
    ...c.extra,
    perMessage: Object.fromEntries(contenders.map(({ label, perMessage }) => [label, perMessage])),
    samples,
    flotillaVs: ratios,
  });
  console.log(`median (min–max) over ${ROUNDS} round(s) of ${N} messages:`);
  for (const row of rows) {
    const spread = `${fmt(row.min)}–${fmt(row.max)}`;
    console.log(`  ${row.name.padEnd(48)} ${fmt(row.opsPerSec).padStart(8)} (${spread}) msg/s`);
  }
}

/**
 * Where and on what the numbers were taken: the machine, Node's version and the commit (with
 * whether the work tree differed from it), so a results file says what it measured.
 */
export function runMeta(): Record<string, unknown> {
  return {
    machine: {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
      os: `${platform()} ${release()} ${arch()}`,
    },
    node: process.version,
    commit: git("rev-parse", "HEAD") ?? "unknown",
    // --no-optional-locks: reading the status must not write the index another process may hold.
    uncommittedChanges: (git("--no-optional-locks", "status", "--porcelain") ?? "") !== "",
  };
}

function git(...args: string[]): string | undefined {
  try {
    return execFileSync("git", args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

function fmt(x: number): string {
  return x.toLocaleString("en-US");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] ?? 0);
}
