// One worker process of the cluster benchmark: hosts its share of the nodes of one cluster,
// polls their registries from inside (cheap map reads) and reports to the parent over IPC.
// Started by run.ts with --expose-gc; never run by hand.
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { ClusterSpec, FromWorker, Sample, ToWorker } from "./protocol.js";
import { now } from "./protocol.js";
import { type ClusterNode, systems } from "./systems.js";
import { TrafficCounter } from "./traffic.js";

const traffic = new TrafficCounter();
let nodes: ClusterNode[] = [];
/** Each node's index in the cluster. */
let mine: number[] = [];
let spec: ClusterSpec | undefined;
/** The fewest other nodes any node saw since the last sample (-1: not tracking yet). */
let minSeen = -1;
/** A node late by more than its heartbeat timeout drops every other node: worth knowing. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

const send = (msg: FromWorker) => process.send?.(msg);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

process.on("message", (msg: ToWorker) => {
  handle(msg).catch((err: unknown) => {
    send({ type: "failed", error: String((err as Error)?.stack ?? err) });
  });
});
// Many brokers per process: their listeners on `process` are expected.
process.setMaxListeners(0);
// The parent is gone: nothing left to measure.
process.on("disconnect", () => process.exit(0));

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case "init":
      return init(msg.spec, msg.mine);
    case "start":
      return start(msg.at, msg.rate);
    case "sample":
      send({ type: "sampled", sample: sample() });
      return;
    case "heap":
      return heap();
    case "watch":
      return watch(msg.gone);
    case "exit":
      process.exit(0);
  }
}

async function init(s: ClusterSpec, indexes: number[]): Promise<void> {
  spec = s;
  mine = indexes;
  const system = systems[s.system];
  if (system === undefined) throw new Error(`unknown system ${s.system}`);
  nodes = [];
  for (const i of mine) nodes.push(await system.createNode(s, s.nodes[i]!, traffic));
  // The baseline holds the framework's code and the brokers with their services, not started:
  // what the heap grows by from here is what joining a cluster of N costs.
  const baselineHeap = await gcHeap();
  send({ type: "ready", baselineHeap });
}

/**
 * Starts the nodes on schedule: node i of the cluster at `at + i / rate` (all at `at` when
 * `rate` is 0), then waits until each sees all the others.
 */
async function start(at: number, rate: number): Promise<void> {
  const others = spec!.nodes.length - 1;
  const starts: Promise<void>[] = [];
  let firstStartAt = 0;
  let failed: unknown;
  for (const [j, node] of nodes.entries()) {
    const due = at + (rate > 0 ? (mine[j]! * 1000) / rate : 0);
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    if (j === 0) firstStartAt = now();
    starts.push(
      node.start().catch((err: unknown) => {
        failed ??= err;
      }),
    );
  }
  const lastStartAt = now();
  send({ type: "started", firstStartAt, lastStartAt });
  let startedAllAt = 0;
  void Promise.all(starts).then(() => {
    startedAllAt = now();
  });
  const reached = new Map<ClusterNode, number>();
  // BENCH_DEBUG=1: say how far convergence got, every 5 s.
  const progress =
    process.env.BENCH_DEBUG === undefined
      ? undefined
      : setInterval(() => {
          const seen = nodes.map((n) => n.seen());
          console.error(
            `worker ${process.pid}: ${reached.size}/${nodes.length} converged, fewest seen ${Math.min(...seen)}, started ${startedAllAt > 0}, cpu ${JSON.stringify(process.cpuUsage())}`,
          );
        }, 5000);
  for (;;) {
    if (failed !== undefined) throw failed;
    const t = now();
    for (const node of nodes) if (!reached.has(node) && node.seen() >= others) reached.set(node, t);
    if (reached.size === nodes.length && startedAllAt > 0) break;
    await sleep(10);
  }
  clearInterval(progress);
  minSeen = others;
  send({
    type: "converged",
    at: Math.max(...reached.values()),
    startedAllAt,
    sample: sample(),
  });
  // From now on, note any node that loses sight of another (a flapping cluster), every 250 ms.
  const track = setInterval(() => {
    for (const node of nodes) minSeen = Math.min(minSeen, node.seen());
  }, 250);
  track.unref();
}

function sample(): Sample {
  const seenNow = nodes.length === 0 ? 0 : Math.min(...nodes.map((n) => n.seen()));
  const s: Sample = {
    at: now(),
    cpu: process.cpuUsage(),
    traffic: traffic.snapshot(),
    minSeen: minSeen < 0 ? seenNow : Math.min(minSeen, seenNow),
    loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
  };
  minSeen = seenNow;
  loopDelay.reset();
  return s;
}

async function gcHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("the worker needs --expose-gc");
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

async function heap(): Promise<void> {
  const heapUsed = await gcHeap();
  send({ type: "heaped", heapUsed, rss: process.memoryUsage().rss });
}

/** Waits until every node here has dropped every node in `gone` (the killed worker's). */
async function watch(gone: string[]): Promise<void> {
  send({ type: "watching" });
  const dropped = new Map<ClusterNode, number>();
  while (dropped.size < nodes.length) {
    const t = now();
    for (const node of nodes) {
      if (!dropped.has(node) && !gone.some((id) => node.sees(id))) dropped.set(node, t);
    }
    await sleep(2);
  }
  const times = [...dropped.values()];
  send({ type: "noticed", firstAt: Math.min(...times), lastAt: Math.max(...times) });
}
