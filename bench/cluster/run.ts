// Cluster scale: clusters of 50, 100 and 200 nodes (several brokers per worker process, real
// transporter packets, three small services per node), Flotilla over nats:// and tcp:// beside
// Moleculer over NATS and TCP, in the same run. Per system and N, in fresh processes each round:
// - convergence: from the start of the last node until every node sees all N-1 others;
// - at rest (after a settle time): discovery packets and bytes per node per second, worker CPU
//   per node per second (and the nats-server's CPU);
// - heap after GC per node (all of it, and what joining added), and per known node (slope);
// - notice: SIGKILL one worker (N / workers nodes) and time until every surviving node has
//   dropped all of them.
// Run: npm run bench:cluster   (results in bench/results/cluster-scale.json)
//   --sizes 50,100,200  --systems flotilla-nats,flotilla-tcp,moleculer-nats,moleculer-tcp
//   --rounds 3 (convergence and notice)  --rest-rounds 1 (rounds that also measure the rest
//   window and the heap)  --workers 4  --start-rate 50 (nodes started per second, cluster-wide;
//   0: all at once)  --rest-ms 5000  --settle-ms 2000  --heartbeat 1000,4000 (interval,timeout)
//   --converge-timeout-ms 30000 (a system and size that does not converge is not tried again)
//   --quiet-limit 0.5 --quiet-max-wait-ms 500 (wait for a quieter machine before each)
//   --nats nats://127.0.0.1:4222  --out <name> (cluster-<name>.json; default "scale" for the
//   full run, "partial" otherwise)  --worker-flags "--cpu-prof --cpu-prof-dir=/tmp/prof"
//   Each flag also reads from BENCH_<NAME> (BENCH_SIZES, BENCH_SYSTEMS, BENCH_ROUNDS, ...).
//   BENCH_DEBUG=1: each worker says how far convergence got, every 5 s.
// Per-packet costs behind the totals: node --import tsx bench/cluster/packet-cost.ts
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Measurement, type MeasureOptions, measure } from "./measure.js";
import { growth, markdownTable, summarize } from "./summary.js";
import { systems } from "./systems.js";

const DEFAULT_SIZES = [50, 100, 200];
const DEFAULT_SYSTEMS = ["flotilla-nats", "flotilla-tcp", "moleculer-nats", "moleculer-tcp"];

/** `--name value` or `BENCH_NAME`, else `fallback`. */
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[`BENCH_${name.toUpperCase().replaceAll("-", "_")}`] ?? fallback;
}

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const sizes = list(arg("sizes", DEFAULT_SIZES.join(","))).map(Number);
const names = list(arg("systems", DEFAULT_SYSTEMS.join(",")));
for (const name of names) {
  if (systems[name] === undefined) {
    throw new Error(`unknown system '${name}'; known: ${Object.keys(systems).join(", ")}`);
  }
}
const rounds = Number(arg("rounds", "3"));
/** Rounds that also measure the rest window and the heap (the first ones). */
const restRounds = Number(arg("rest-rounds", "1"));
const [heartbeatInterval = 1000, heartbeatTimeout = 4000] = list(arg("heartbeat", "1000,4000")).map(
  Number,
);
const full =
  sizes.join() === DEFAULT_SIZES.join() &&
  [...names].sort().join() === [...DEFAULT_SYSTEMS].sort().join() &&
  rounds >= 3;
const out = arg("out", full ? "scale" : "partial");
const opts: MeasureOptions = {
  workers: Number(arg("workers", "4")),
  heartbeatInterval,
  heartbeatTimeout,
  atRest: true,
  startRate: Number(arg("start-rate", "50")),
  settleMs: Number(arg("settle-ms", "2000")),
  restMs: Number(arg("rest-ms", "5000")),
  convergeTimeoutMs: Number(arg("converge-timeout-ms", "30000")),
  natsUrl: arg("nats", "nats://127.0.0.1:4222"),
  workerFlags: list(arg("worker-flags", "")).flatMap((f) => f.split(" ")),
  quietLimitCores: Number(arg("quiet-limit", "0.5")),
  quietMaxWaitMs: Number(arg("quiet-max-wait-ms", "500")),
};

const started = performance.now();
const all: Measurement[] = [];
/** Systems and sizes that did not converge: not tried again in later rounds (time is short). */
const failed = new Set<string>();
for (let round = 1; round <= rounds; round++) {
  for (const size of sizes) {
    // Rotate the order each round, so no system always runs right after the same one.
    const order = names.map((_, i) => names[(i + round - 1) % names.length]!);
    for (const name of order) {
      if (failed.has(`${name}/${size}`)) continue;
      const m = await measure(name, systems[name]!, size, round, {
        ...opts,
        atRest: round <= restRounds,
      });
      if (m.convergeMs === undefined) failed.add(`${name}/${size}`);
      all.push(m);
      console.log(line(m));
      // Let the machine (and the nats-server) drop the last cluster's connections.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
const minutes = (performance.now() - started) / 60_000;

const rows = summarize(all);
const labels = Object.fromEntries(names.map((n) => [n, systems[n]!.label]));
const grows = growth(rows);
console.log(`\n${markdownTable(rows, labels)}\n`);
console.log("growth exponents per node (figure ∝ N^e) and heap per known node:");
console.table(grows);

const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, "..", "results", `cluster-${out}.json`);
mkdirSync(dirname(file), { recursive: true });
const meta = {
  bench: `cluster-${out}`,
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  minutes: +minutes.toFixed(1),
};
const settings = {
  sizes,
  systems: Object.fromEntries(
    names.map((n) => [n, { label: systems[n]!.label, how: systems[n]!.how }]),
  ),
  rounds,
  restRounds,
  ...opts,
  servicesPerNode:
    "3 services (accounts: 3 actions, billing: 2 actions + 1 event listener, notify: 2 actions + 1 event listener), params schemas (zod / fastest-validator); Moleculer adds its $node service",
};
writeFileSync(
  file,
  `${JSON.stringify({ ...meta, settings, rows, growth: grows, measurements: all }, null, 2)}\n`,
);
console.log(`written to ${file} (${minutes.toFixed(1)} min)`);

function line(m: Measurement): string {
  const f = (x: number | undefined, unit = "") => (x === undefined ? "—" : `${x}${unit}`);
  const bytesIn = m.rest
    ? Object.values(m.rest.perNodePerSec.received).reduce((a, b) => a + b.bytes, 0)
    : undefined;
  return [
    `round ${m.round}`,
    m.system.padEnd(15),
    `N=${String(m.size).padEnd(4)}`,
    `converge ${f(m.convergeMs, " ms")}`,
    `rest ${f(m.rest?.cpuMsPerNodePerSec, " cpu-ms/s/node")} ${f(bytesIn, " B/s/node in")}`,
    `heap ${f(m.heap && Math.round(m.heap.joinedPerNode / 1024), " KB/node")}`,
    `notice ${f(m.notice?.lastMs, " ms")}`,
    m.error ? `ERROR ${m.error.split("\n")[0]}` : "",
  ].join("  ");
}
