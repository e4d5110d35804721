import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One measured row of a benchmark. */
export interface Row {
  name: string;
  inFlight: number;
  opsPerSec: number;
}

/**
 * Runs `op` with `inFlight` concurrent loops for about `ms` milliseconds (after a warm-up of the
 * same shape) and returns completed operations per second: every completed op counts, divided by
 * the time actually elapsed until the last loop stopped.
 */
export async function measure(
  op: () => Promise<unknown>,
  inFlight: number,
  ms: number,
): Promise<number> {
  await runFor(op, inFlight, Math.min(500, ms / 2));
  const started = performance.now();
  const count = await runFor(op, inFlight, ms);
  return Math.round((count * 1000) / (performance.now() - started));
}

async function runFor(op: () => Promise<unknown>, inFlight: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let count = 0;
  const loop = async () => {
    // Read the clock every 32 ops: cheap next to a sub-microsecond op, fine-grained for slow ones.
    for (;;) {
      for (let i = 0; i < 32; i++) {
        await op();
        count++;
      }
      if (performance.now() >= end) return;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return count;
}

/**
 * Writes results next to the other benchmarks' (or into `BENCH_RESULTS_DIR`, so a trial run
 * leaves the published results alone) and prints a table.
 */
export function report(bench: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = process.env.BENCH_RESULTS_DIR || join(here, "results");
  const file = join(dir, `${bench}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const meta = {
    bench,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
  };
  writeFileSync(file, `${JSON.stringify({ ...meta, ...extra, rows }, null, 2)}\n`);
  console.log(`\n${bench} (${meta.node}, ${meta.cores} cores)`);
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(44)} in-flight ${String(row.inFlight).padStart(3)}  ${row.opsPerSec.toLocaleString("en-US").padStart(12)} ops/s`,
    );
  }
  console.log(`written to ${file}`);
}
