// The action cache: a cached call vs an uncached one, (1) local `broker.call`, with a trivial
// handler (what the cache costs) and one that waits 1 ms (a query: what it saves), in memory and
// in Redis, 1 and 64 calls in flight; (2) through the gateway (autocannon, 64 connections) to the
// 1 ms action, each store's gateway in a process of its own. Every call asks for the same id, so
// cached rows are all hits after the first. Local rows: median of BENCH_ROUNDS rounds (min–max),
// rounds interleave the configurations; all local configurations share this process. Gateway
// rows: median of the rounds' req/s.
// Run: npm run bench:cache   (results in bench/results/cache.json)
//   BENCH_MS (per local measurement, default 1000), BENCH_ROUNDS (default 3),
//   BENCH_SECONDS (per gateway measurement, default 3). Needs Redis on 127.0.0.1:6379.
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { measure, report } from "../lib.js";
import { median } from "../observability.js";
import { benchBroker, type Store, type Work } from "./services.js";

const ms = Number(process.env.BENCH_MS ?? 1000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const here = dirname(fileURLToPath(import.meta.url));
const stores: Store[] = ["none", "memory", "redis"];
const works: Work[] = ["trivial", "query"];
const inFlights = [1, 64];

interface SpreadRow {
  name: string;
  inFlight: number;
  opsPerSec: number;
  min: number;
  max: number;
  rounds: number[];
}

const label = (work: Work, store: Store) =>
  `local ${work === "query" ? "1 ms handler" : "trivial handler"}, ${store === "none" ? "uncached" : `cached (${store})`}`;

async function local(): Promise<SpreadRow[]> {
  const samples = new Map<string, number[]>();
  const brokers = new Map<string, Awaited<ReturnType<typeof benchBroker>>>();
  for (const work of works) {
    for (const store of stores) {
      brokers.set(label(work, store), await benchBroker(work, store, `bench-cache-${process.pid}`));
    }
  }
  for (let round = 0; round < rounds; round++) {
    const names = [...brokers.keys()];
    // Rotate the order each round, so no configuration always follows the same one.
    const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
    for (const name of order) {
      const broker = brokers.get(name)!;
      for (const n of inFlights) {
        const ops = await measure(() => broker.call("products.get", { id: 1 }), n, ms);
        const key = `${name}|${n}`;
        samples.set(key, [...(samples.get(key) ?? []), ops]);
        console.log(
          `round ${round + 1}: ${name.padEnd(44)} ${String(n).padStart(2)} in flight ${ops.toLocaleString("en-US").padStart(11)} calls/s`,
        );
      }
    }
  }
  for (const broker of brokers.values()) await broker.stop();
  return [...samples].map(([key, xs]) => {
    const [name = "", n = "0"] = key.split("|");
    return {
      name,
      inFlight: Number(n),
      opsPerSec: Math.round(median(xs)),
      min: Math.min(...xs),
      max: Math.max(...xs),
      rounds: xs,
    };
  });
}

async function gateway(): Promise<SpreadRow[]> {
  const rows: SpreadRow[] = [];
  const samples = new Map<Store, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const store of stores) {
      const child = fork(join(here, "server.ts"), [store], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      try {
        const [message] = (await once(child, "message")) as [{ port: number }];
        const url = `http://127.0.0.1:${message.port}/products/1`;
        await autocannon({ url, connections: 64, duration: 1 }); // warm-up
        const result = await autocannon({ url, connections: 64, duration: seconds });
        if (result.non2xx > 0 || result.errors > 0)
          throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
        samples.set(store, [...(samples.get(store) ?? []), Math.round(result.requests.average)]);
        console.log(
          `round ${round + 1}: gateway ${store.padEnd(7)} ${Math.round(result.requests.average)} req/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms`,
        );
      } finally {
        await stop(child);
      }
    }
  }
  for (const [store, xs] of samples) {
    const name = `gateway -> 1 ms handler, ${store === "none" ? "uncached" : `cached (${store})`}`;
    rows.push({
      name,
      inFlight: 64,
      opsPerSec: Math.round(median(xs)),
      min: Math.min(...xs),
      max: Math.max(...xs),
      rounds: xs,
    });
  }
  return rows;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

const load = { before: loadavg() };
const rows = [...(await local()), ...(await gateway())];
const pick = (name: string, n: number) =>
  rows.find((r) => r.name === name && r.inFlight === n)?.opsPerSec ?? 0;
const speedups = Object.fromEntries(
  inFlights.map((n) => [
    `inFlight${n}`,
    Object.fromEntries(
      works.flatMap((w) =>
        (["memory", "redis"] as const).map((s) => [
          `${w}, ${s}`,
          +(pick(label(w, s), n) / pick(label(w, "none"), n)).toFixed(2),
        ]),
      ),
    ),
  ]),
);
report("cache", rows, {
  unit: "calls/s (local) and HTTP requests/s (gateway); median of rounds with min and max",
  rounds,
  msPerLocalMeasurement: ms,
  secondsPerGatewayMeasurement: seconds,
  hitRate: "every call asks for id 1: cached rows are hits after the first call",
  loadAverage: { before: load.before, after: loadavg() },
  speedups,
});
console.log("\n| contender | in flight | calls/s (median, min–max) |\n|---|--:|--:|");
for (const r of rows)
  console.log(`| ${r.name} | ${r.inFlight} | ${fmt(r.opsPerSec)} (${fmt(r.min)}–${fmt(r.max)}) |`);

function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return String(x);
}
