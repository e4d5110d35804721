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
 * Runs `op` with `inFlight` concurrent loops for `ms` milliseconds (after a warm-up of the same
 * shape) and returns completed operations per second.
 */
export async function measure(
  op: () => Promise<unknown>,
  inFlight: number,
  ms: number,
): Promise<number> {
  await runFor(op, inFlight, Math.min(500, ms / 2));
  const count = await runFor(op, inFlight, ms);
  return Math.round((count * 1000) / ms);
}

async function runFor(op: () => Promise<unknown>, inFlight: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let count = 0;
  const loop = async () => {
    while (performance.now() < end) {
      // Check the clock every 256 ops so timing costs little next to a sub-microsecond op.
      for (let i = 0; i < 256; i++) await op();
      count += 256;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return count;
}

/** Writes results next to the other benchmarks' and prints a table. */
export function report(bench: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = join(here, "results", `${bench}.json`);
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
