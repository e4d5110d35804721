// What the parent (run.ts) and the worker processes (worker.ts) of the cluster benchmark say to
// each other over IPC, and the counters a worker keeps. Plain data only: it crosses a process
// boundary as JSON.

/** One node of the cluster: its ID and, for systems that need fixed addresses, its port. */
export interface NodeSpec {
  nodeID: string;
  port: number;
}

/** Everything a worker needs to host its share of one cluster. */
export interface ClusterSpec {
  /** Key of the system in `systems.ts`. */
  system: string;
  /** Fresh per measurement, so no packet of an earlier run reaches this one. */
  namespace: string;
  /** Every node of the cluster, in order. */
  nodes: NodeSpec[];
  /** ms; the same for every system (Moleculer takes it in seconds). */
  heartbeatInterval: number;
  heartbeatTimeout: number;
  /** A scratch directory of this measurement (rendezvous files). */
  dir: string;
  natsUrl: string;
  /** What the system's `prepare` set up (a registry server's URL, say). */
  settings: Record<string, string>;
}

/** Discovery-related packet kinds, named alike for both frameworks. */
export const KINDS = ["heartbeat", "info", "discover", "gossip", "disconnect", "other"] as const;
export type Kind = (typeof KINDS)[number];

export interface Flow {
  packets: number;
  bytes: number;
}

/** Packets and bytes by kind, sent (handed to the transporter) and received (delivered). */
export interface Traffic {
  sent: Record<Kind, Flow>;
  received: Record<Kind, Flow>;
}

/** A worker's clocks and counters at one instant. */
export interface Sample {
  /** Epoch ms with sub-ms precision (`performance.timeOrigin + performance.now()`). */
  at: number;
  /** `process.cpuUsage()` of the worker, µs. */
  cpu: { user: number; system: number };
  traffic: Traffic;
  /** The fewest other nodes any of this worker's nodes saw since the previous sample. */
  minSeen: number;
  /** The worker's longest event-loop delay since the previous sample, ms. */
  loopDelayMaxMs: number;
}

export type ToWorker =
  | { type: "init"; spec: ClusterSpec; mine: number[] }
  /** Start node i of the cluster at `at + i / rate` s (epoch ms; `rate` 0: all at `at`). */
  | { type: "start"; at: number; rate: number }
  | { type: "sample" }
  | { type: "heap" }
  | { type: "watch"; gone: string[] }
  /** Exit normally (so `--cpu-prof` can write its profile). */
  | { type: "exit" };

export type FromWorker =
  /** Heap used after GC with every node made but none started. */
  | { type: "ready"; baselineHeap: number }
  | { type: "started"; firstStartAt: number; lastStartAt: number }
  | {
      type: "converged";
      /** When the last of this worker's nodes first saw all the others. */
      at: number;
      /** When the last `start()` of this worker resolved. */
      startedAllAt: number;
      sample: Sample;
    }
  /** Any order failed (a node that could not start, say): the measurement stops. */
  | { type: "failed"; error: string }
  | { type: "sampled"; sample: Sample }
  | { type: "heaped"; heapUsed: number; rss: number }
  | { type: "watching" }
  | {
      type: "noticed";
      /** When the first and the last of this worker's nodes had dropped every killed node. */
      firstAt: number;
      lastAt: number;
    };

/** A {@link Traffic} at zero. */
export function emptyTraffic(): Traffic {
  const zero = () =>
    Object.fromEntries(KINDS.map((k) => [k, { packets: 0, bytes: 0 }])) as Record<Kind, Flow>;
  return { sent: zero(), received: zero() };
}

/** `b - a`, kind by kind. */
export function trafficDelta(a: Traffic, b: Traffic): Traffic {
  const out = emptyTraffic();
  for (const dir of ["sent", "received"] as const) {
    for (const k of KINDS) {
      out[dir][k].packets = b[dir][k].packets - a[dir][k].packets;
      out[dir][k].bytes = b[dir][k].bytes - a[dir][k].bytes;
    }
  }
  return out;
}

/** Adds `b` into `a`. */
export function addTraffic(a: Traffic, b: Traffic): Traffic {
  for (const dir of ["sent", "received"] as const) {
    for (const k of KINDS) {
      a[dir][k].packets += b[dir][k].packets;
      a[dir][k].bytes += b[dir][k].bytes;
    }
  }
  return a;
}

/** Epoch ms with sub-ms precision, comparable across processes of this machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
