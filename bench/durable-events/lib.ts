// What the durable-event benchmarks share: bounded publishing, counting acks, interleaved rounds
// with medians, and the report with moleculer-channels' published figure beside the measured ones.
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

/** A promise that resolves when `done()` has been called n times, with the time of the last. */
export function counter(n: number): { done: () => void; all: Promise<number> } {
  let count = 0;
  let resolve!: (at: number) => void;
  const all = new Promise<number>((r) => {
    resolve = r;
  });
  return {
    done: () => {
      if (++count === n) resolve(performance.now());
    },
    all,
  };
}

/** One contender: `run(round, n)` delivers n messages end to end and returns messages/s. */
export type Contender = readonly [
  label: string,
  run: (round: string, n: number) => Promise<number>,
];

/** The benchmark's identity and what goes in its report besides the measured rows. */
export interface Comparison {
  bench: string;
  /** The Flotilla contender's label: ratios are Flotilla ÷ each other row. */
  flotilla: string;
  /** moleculer-channels' published figure (i7, 100 in flight) and the adapter's name. */
  moleculer: { label: string; published: number };
  extra: Record<string, unknown>;
}

/**
 * Warms every contender up once (JIT, the server's queues or files), then runs rounds that
 * interleave them, so a burst of noise on a shared machine decides nothing; reports medians.
 */
export async function compare(contenders: readonly Contender[], c: Comparison): Promise<void> {
  const samples: Record<string, number[]> = Object.fromEntries(
    contenders.map(([label]) => [label, []]),
  );
  for (const [, run] of contenders) await run("warm-up", Math.min(N, 5_000));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, run] of contenders) {
      const opsPerSec = await run(String(r), N);
      samples[label]?.push(opsPerSec);
      console.log(`  round ${r + 1}: ${label.padEnd(48)} ${opsPerSec} msg/s`);
    }
  }
  const installed = await moleculerChannelsInstalled();
  if (installed) console.log("  @moleculer/channels is installed, but no run is wired here yet.");
  const rows: Row[] = contenders.map(([label]) => ({
    name: label,
    inFlight: IN_FLIGHT,
    opsPerSec: median(samples[label] ?? []),
  }));
  rows.push({ name: c.moleculer.label, inFlight: IN_FLIGHT, opsPerSec: c.moleculer.published });
  const flotilla = rows.find((r) => r.name === c.flotilla)?.opsPerSec ?? 0;
  const ratios = Object.fromEntries(
    rows
      .filter((r) => r.name !== c.flotilla && r.opsPerSec > 0)
      .map((r) => [r.name, +(flotilla / r.opsPerSec).toFixed(2)]),
  );
  report(c.bench, rows, {
    messages: N,
    rounds: ROUNDS,
    ...c.extra,
    samples,
    flotillaVs: ratios,
    moleculerChannels: {
      run: false,
      installed,
      reason: "@moleculer/channels is not a dependency of this project",
      published: {
        opsPerSec: c.moleculer.published,
        machine: "i7",
        inFlight: IN_FLIGHT,
        source: "its README",
      },
    },
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] ?? 0);
}

/** Whether moleculer-channels is installed (it is optional and has no types here). */
async function moleculerChannelsInstalled(): Promise<boolean> {
  try {
    const name = "@moleculer/channels";
    await import(name);
    return true;
  } catch {
    return false;
  }
}
