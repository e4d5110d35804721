// HTTP gateway throughput, same run, same machine: (a) a bare Fastify route (the floor), (b) the
// Flotilla gateway to a local action, (c) moleculer-web to a Moleculer action, (d) the Flotilla
// gateway to an action on another process over tcp://. Each server runs in its own process;
// autocannon (64 connections) runs here. Results: bench/results/gateway.json and the table in
// bench/gateway/README.md.
// Run: node --import tsx bench/gateway/run.ts   (BENCH_SECONDS=5, BENCH_ROUNDS=2, BENCH_CONNECTIONS=64)
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { type Row, report } from "../lib.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);

interface Variant {
  key: string;
  name: string;
  /** Server processes to start in order; the last one serves HTTP. */
  servers: string[];
}

interface Sample {
  reqPerSec: number;
  /** Server CPU time (user + system, all server processes) per request, in microseconds. */
  cpuMicrosPerReq: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

interface Outcome {
  key: string;
  name: string;
  status: "ok" | "n/a";
  reason?: string;
  /** The round with the most requests per second: the one least disturbed by other load. */
  best?: Sample;
  /** The lowest server CPU per request of any round, in microseconds. */
  cpuMin?: number;
  samples: Sample[];
}

const variants: Variant[] = [
  { key: "fastify", name: "(a) bare Fastify route (floor)", servers: ["fastify"] },
  { key: "flotilla", name: "(b) Flotilla gateway -> local action", servers: ["flotilla"] },
  { key: "moleculer", name: "(c) moleculer-web -> Moleculer action", servers: ["moleculer"] },
  {
    key: "flotilla-tcp",
    name: "(d) Flotilla gateway -> action in another process (tcp://)",
    servers: ["flotilla-tcp-service", "flotilla-tcp-gateway"],
  },
];

/** Starts one server process and resolves with its port, or rejects with its reason. */
async function spawnServer(variant: string, children: ChildProcess[]): Promise<number> {
  const child = fork(join(here, "server.ts"), [variant], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    type Ready = { ready: boolean; port?: number; reason?: string };
    const message = await Promise.race([
      once(child, "message").then(([m]) => m as Ready),
      once(child, "exit").then(
        ([code]): Ready => ({ ready: false, reason: `exited with code ${code}` }),
      ),
    ]);
    if (!message.ready) throw new Error(message.reason ?? "not ready");
    return message.port ?? 0;
  } finally {
    clearTimeout(timer);
  }
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const child of children.splice(0).reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }
}

/** CPU time used so far by the server processes, in microseconds. */
async function serverCpu(children: ChildProcess[]): Promise<number> {
  let total = 0;
  for (const child of children) {
    const reply = once(child, "message");
    child.send("cpu");
    const [message] = (await reply) as [{ cpu: { user: number; system: number } }];
    total += message.cpu.user + message.cpu.system;
  }
  return total;
}

async function load(url: string, duration: number, children: ChildProcess[]): Promise<Sample> {
  const cpuBefore = await serverCpu(children);
  const result = await autocannon({ url, connections, duration, pipelining: 1 });
  const cpu = (await serverCpu(children)) - cpuBefore;
  return {
    reqPerSec: Math.round(result.requests.average),
    cpuMicrosPerReq: +(cpu / Math.max(1, result.requests.total)).toFixed(1),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function measureVariant(variant: Variant, outcome: Outcome): Promise<void> {
  const children: ChildProcess[] = [];
  try {
    let port = 0;
    for (const server of variant.servers) port = await spawnServer(server, children);
    const url = `http://127.0.0.1:${port}/hello`;
    const check = await fetch(url);
    const body = await check.text();
    if (check.status !== 200) throw new Error(`GET /hello answered ${check.status}: ${body}`);
    await load(url, 1, children); // warm-up: JIT, connection pools
    const sample = await load(url, seconds, children);
    if (sample.non2xx > 0 || sample.errors > 0) {
      throw new Error(`${sample.non2xx} non-2xx answers and ${sample.errors} errors under load`);
    }
    outcome.samples.push(sample);
    outcome.cpuMin = Math.min(outcome.cpuMin ?? Number.POSITIVE_INFINITY, sample.cpuMicrosPerReq);
    if (outcome.best === undefined || sample.reqPerSec > outcome.best.reqPerSec)
      outcome.best = sample;
    console.log(
      `${variant.name.padEnd(60)} ${String(sample.reqPerSec).padStart(7)} req/s  ` +
        `${sample.cpuMicrosPerReq} us server CPU/req  p50 ${sample.p50} ms  p99 ${sample.p99} ms`,
    );
  } catch (err) {
    outcome.status = "n/a";
    outcome.reason = err instanceof Error ? err.message : String(err);
    console.log(`${variant.name.padEnd(60)}     n/a  (${outcome.reason})`);
  } finally {
    await stopAll(children);
  }
}

const outcomes: Outcome[] = variants.map((v) => ({
  key: v.key,
  name: v.name,
  status: "ok",
  samples: [],
}));
// Rounds alternate the variants so that a noisy moment does not hit one variant only.
for (let round = 0; round < rounds; round++) {
  console.log(`round ${round + 1} of ${rounds}, ${seconds} s each, ${connections} connections`);
  for (const [i, variant] of variants.entries()) {
    const outcome = outcomes[i]!;
    if (outcome.status === "n/a") continue;
    await measureVariant(variant, outcome);
  }
}

const rps = (key: string) => outcomes.find((o) => o.key === key)?.best?.reqPerSec;
const cpu = (key: string) => outcomes.find((o) => o.key === key)?.cpuMin;
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? null : +(a / b).toFixed(2);
const ratios = {
  flotillaVsFastify: ratio(rps("flotilla"), rps("fastify")),
  flotillaVsMoleculerWeb: ratio(rps("flotilla"), rps("moleculer")),
  tcpVsFastify: ratio(rps("flotilla-tcp"), rps("fastify")),
  // Server CPU per request of the floor divided by the gateway's: the share of the floor's
  // efficiency the gateway keeps, which holds even when the load generator saturates first.
  flotillaCpuEfficiencyVsFastify: ratio(cpu("fastify"), cpu("flotilla")),
  flotillaCpuEfficiencyVsMoleculerWeb: ratio(cpu("moleculer"), cpu("flotilla")),
};
const rows: Row[] = outcomes
  .filter((o) => o.best !== undefined)
  .map((o) => ({ name: o.name, inFlight: connections, opsPerSec: o.best!.reqPerSec }));
report("gateway", rows, {
  unit: "HTTP requests/s (best round); inFlight = connections; cpuMin = least server CPU µs/request of any round",
  seconds,
  rounds,
  connections,
  outcomes,
  ratios,
  target: "flotillaVsFastify >= 0.85",
});
writeReadme(outcomes, ratios);

function writeReadme(list: Outcome[], r: typeof ratios): void {
  const file = join(here, "README.md");
  const cell = (o: Outcome) =>
    o.best === undefined
      ? `n/a (${o.reason ?? "not run"})`
      : o.best.reqPerSec.toLocaleString("en-US");
  const floor = rps("fastify");
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), Node ${process.version}; ${connections} connections, ${seconds} s per variant, ${rounds} rounds (req/s: the best round; CPU: the lowest round).`,
    "",
    ...markdownTable(
      ["variant", "req/s", "vs bare Fastify", "server CPU per request", "p50 / p99 latency (ms)"],
      list.map((o) => {
        const share =
          o.best !== undefined && floor ? `${Math.round((o.best.reqPerSec / floor) * 100)}%` : "";
        const latency = o.best === undefined ? "" : `${o.best.p50} / ${o.best.p99}`;
        const perReq = o.cpuMin === undefined ? "" : `${o.cpuMin} µs`;
        return [o.name, cell(o), share, perReq, latency];
      }),
    ),
    "",
    `Gateway vs moleculer-web: ${r.flotillaVsMoleculerWeb ?? "n/a"}x the requests, ` +
      `${r.flotillaCpuEfficiencyVsMoleculerWeb ?? "n/a"}x the efficiency (moleculer-web CPU/req ÷ gateway CPU/req). ` +
      `Gateway vs bare Fastify: ${r.flotillaVsFastify ?? "n/a"}x the requests, ${r.flotillaCpuEfficiencyVsFastify ?? "n/a"}x the efficiency. ` +
      "Target: the gateway to a local action at 85% of bare Fastify or more.",
  ].join("\n");
  const text = readFileSync(file, "utf8");
  const start = "<!-- results:start -->";
  const end = "<!-- results:end -->";
  const before = text.slice(0, text.indexOf(start) + start.length);
  const after = text.slice(text.indexOf(end));
  writeFileSync(file, `${before}\n${table}\n${after}`);
}

/** A table with padded columns (first left-aligned, the rest right-aligned), as the formatter writes it. */
function markdownTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)];
}
