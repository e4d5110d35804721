// The shape of bench/results/transports.json and its markdown tables (ready for bench/README.md).
// Every figure is a Stat: its value in each round and their median, min and max. Paths:
//   throughput.<transport>.<kind>.<inFlight>.{callsPerSec, clientCpuUs, serverCpuUs}
//   latency.<transport>.<kind>.<load %>.{p50, p90, p99, p999, max (µs), achieved (calls/s),
//     clientCpuUs, serverCpuUs, sendLagP99 (µs), capHit (0|1), unfinished, failed}
//   payloads.<transport>.<kind>.<codec>.<size B>.<inFlight>.{callsPerSec, mbPerSec, clientCpuUs,
//     serverCpuUs}
import type { Kind, Transport } from "./contract.js";

export interface Stat {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}
export interface Tree {
  [key: string]: Tree | Stat;
}
/** What went wrong in a pair, kept in the results instead of stopping a half-hour run. */
export interface Failure {
  transport: Transport;
  kind: Kind;
  round: number;
  what: string;
  error: string;
}
export interface Results {
  meta: Record<string, unknown> & { rates: Partial<Record<Transport, Calibration>> };
  throughput: Tree;
  latency: Tree;
  payloads: Tree;
  failures: Failure[];
}
/** Flotilla's 64-in-flight calls/s on a transport and the offered rates derived from it. */
export interface Calibration {
  flotilla64: number;
  offered: Record<string, number>;
}

/** Offered loads, % of Flotilla's 64-in-flight throughput on the transport. */
export const LOADS = [25, 50, 75] as const;
export const IN_FLIGHTS = [1, 64] as const;
export const PAYLOAD_SIZES = [
  { bytes: 100, label: "100 B", inFlights: [1, 16] },
  { bytes: 10_000, label: "10 KB", inFlights: [1, 16] },
  { bytes: 1_000_000, label: "1 MB", inFlights: [1, 4] },
] as const;
/** Table order: the floor first, Flotilla last, next to its ratios. */
export const KIND_ORDER: readonly Kind[] = ["raw", "moleculer", "nestjs", "flotilla"];
export const KIND_LABEL: Record<Kind, string> = {
  raw: "floor (raw client)",
  moleculer: "Moleculer",
  nestjs: "NestJS",
  flotilla: "Flotilla",
};

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const isStat = (node: Tree | Stat | undefined): node is Stat =>
  node !== undefined && Array.isArray((node as Stat).rounds);

/** Adds one round's value at `path`, creating the path, and updates its median, min and max. */
export function record(tree: Tree, path: readonly (string | number)[], value: number): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const child = node[String(key)];
    if (child === undefined || isStat(child)) node = node[String(key)] = {};
    else node = child;
  }
  const leaf = String(path.at(-1));
  const old = node[leaf];
  const rounds = [...(isStat(old) ? old.rounds : []), +value.toFixed(2)];
  node[leaf] = {
    median: median(rounds),
    min: Math.min(...rounds),
    max: Math.max(...rounds),
    rounds,
  };
}

/** The Stat at `path`, if measured. */
export function statAt(tree: Tree, ...path: (string | number)[]): Stat | undefined {
  let node: Tree | Stat | undefined = tree;
  for (const key of path) node = isStat(node) || node === undefined ? undefined : node[String(key)];
  return isStat(node) ? node : undefined;
}

const int = (x: number) => Math.round(x).toLocaleString("en-US");
/** µs as µs, ms or s with 3 significant digits at most. */
export const duration = (us: number): string =>
  us < 1000
    ? `${Math.round(us)} µs`
    : us < 1e6
      ? `${+(us / 1000).toPrecision(3)} ms`
      : `${+(us / 1e6).toPrecision(3)} s`;
const spread = (s: Stat | undefined, unit = int) =>
  s === undefined ? "–" : `${unit(s.median)} (${unit(s.min)}–${unit(s.max)})`;
const ratio = (a: Stat | undefined, b: Stat | undefined) =>
  a && b && b.median > 0 ? `${(a.median / b.median).toFixed(2)}×` : "–";
const cpu = (client: Stat | undefined, server: Stat | undefined) =>
  client && server ? `${client.median.toFixed(1)} / ${server.median.toFixed(1)}` : "–";
const row = (cells: string[]) => `| ${cells.join(" | ")} |`;

/** The kinds measured on a transport under `tree`, in table order. */
const kindsIn = (tree: Tree, transport: string): Kind[] => {
  const byKind = tree[transport];
  return isStat(byKind) || byKind === undefined ? [] : KIND_ORDER.filter((k) => k in byKind);
};

function throughputTable(r: Results, transport: string): string[] {
  const t = r.throughput;
  const lines = [
    row(["", "1 in flight, calls/s", "64 in flight, calls/s", "CPU µs/call c / s, 1", "… 64"]),
    row(["---", "--:", "--:", "--:", "--:"]),
  ];
  for (const kind of kindsIn(t, transport)) {
    const at = (n: number, what: string) => statAt(t, transport, kind, n, what);
    lines.push(
      row([
        KIND_LABEL[kind],
        ...IN_FLIGHTS.map((n) => spread(at(n, "callsPerSec"))),
        ...IN_FLIGHTS.map((n) => cpu(at(n, "clientCpuUs"), at(n, "serverCpuUs"))),
      ]),
    );
  }
  for (const peer of ["raw", "moleculer", "nestjs"] as const) {
    const of = (kind: Kind, n: number) => statAt(t, transport, kind, n, "callsPerSec");
    if (!of(peer, 1) || !of("flotilla", 1)) continue;
    const cells = IN_FLIGHTS.map((n) => ratio(of("flotilla", n), of(peer, n)));
    lines.push(
      row([`Flotilla ÷ ${peer === "raw" ? "floor" : KIND_LABEL[peer]}`, ...cells, "", ""]),
    );
  }
  return lines;
}

function latencyTable(r: Results, transport: string): string[] {
  const l = r.latency;
  const offered = r.meta.rates[transport as Transport]?.offered ?? {};
  const head = [
    "",
    "load",
    "offered/s",
    "achieved/s",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "send lag p99",
  ];
  const lines = [
    row([...head, "CPU µs/call c / s"]),
    row(["---", ...head.slice(1).map(() => "--:"), "--:"]),
  ];
  for (const kind of kindsIn(l, transport)) {
    for (const load of LOADS) {
      const at = (what: string) => statAt(l, transport, kind, load, what);
      const flags = [
        (at("capHit")?.max ?? 0) > 0 ? "cap hit" : "",
        (at("unfinished")?.max ?? 0) > 0 ? `${int(at("unfinished")!.max)} unanswered` : "",
        (at("failed")?.max ?? 0) > 0 ? `${int(at("failed")!.max)} failed` : "",
      ].filter(Boolean);
      const achieved = at("achieved");
      if (!achieved) continue; // this load's run failed: see the failures below
      lines.push(
        row([
          KIND_LABEL[kind],
          `${load} %`,
          int(offered[load] ?? 0),
          `${int(achieved.median)}${flags.length ? ` (${flags.join(", ")})` : ""}`,
          ...["p50", "p90", "p99", "p999", "max", "sendLagP99"].map((p) => {
            const s = at(p);
            return s ? duration(s.median) : "–";
          }),
          cpu(at("clientCpuUs"), at("serverCpuUs")),
        ]),
      );
    }
  }
  const p99 = (kind: Kind) => statAt(l, transport, kind, 50, "p99");
  if (p99("flotilla") && p99("raw")) {
    lines.push(
      "",
      `Flotilla's p99 ÷ the floor's p99 at 50 % load: ${ratio(p99("flotilla"), p99("raw"))}`,
    );
  }
  return lines;
}

function payloadTable(r: Results, transport: string): string[] {
  const p = r.payloads;
  const columns = PAYLOAD_SIZES.flatMap((s) => s.inFlights.map((n) => ({ ...s, n })));
  const lines = [
    row(["calls/s · MB/s", ...columns.map((c) => `${c.label}, ${c.n} in flight`)]),
    row(["---", ...columns.map(() => "--:")]),
  ];
  for (const kind of kindsIn(p, transport)) {
    for (const codec of ["json", "msgpack"]) {
      if (!statAt(p, transport, kind, codec, 100, 1, "callsPerSec")) continue;
      const cells = columns.map((c) => {
        const calls = statAt(p, transport, kind, codec, c.bytes, c.n, "callsPerSec");
        const mb = statAt(p, transport, kind, codec, c.bytes, c.n, "mbPerSec");
        return calls && mb ? `${int(calls.median)} · ${mb.median.toFixed(1)}` : "–";
      });
      lines.push(row([`${KIND_LABEL[kind]}, ${codec}`, ...cells]));
    }
  }
  return lines;
}

/** All tables as markdown, one section per transport. */
export function reportMarkdown(r: Results): string {
  const m = r.meta as Record<string, Record<string, unknown> | string | undefined>;
  const machine = m.machine as Record<string, unknown> | undefined;
  const out = [
    `Measured ${String(m.date ?? "")} on ${String(machine?.cpu ?? "?")} (${String(machine?.cores ?? "?")} cores), Node ${String(m.node ?? "?")}; medians of ${String((m.settings as Record<string, unknown> | undefined)?.BENCH_ROUNDS ?? "?")} rounds (min–max).`,
  ];
  const transports = ["tcp", "nats", "redis", "amqp"];
  for (const transport of transports.filter((t) => r.throughput[t] !== undefined)) {
    out.push("", `#### Throughput, ${transport}`, "", ...throughputTable(r, transport));
  }
  for (const transport of transports.filter((t) => r.latency[t] !== undefined)) {
    const rate = r.meta.rates[transport as Transport];
    const note = rate
      ? ` (100 % = Flotilla's ${int(rate.flotilla64)} calls/s at 64 in flight)`
      : "";
    out.push("", `#### Latency under load, ${transport}${note}`, "", ...latencyTable(r, transport));
  }
  for (const transport of transports.filter((t) => r.payloads[t] !== undefined)) {
    out.push("", `#### Payload sizes, ${transport} (echo)`, "", ...payloadTable(r, transport));
  }
  if (r.failures.length) out.push("", "Failed (left out of the figures above):");
  for (const f of r.failures) {
    out.push(`- ${f.transport} ${f.kind} round ${f.round}, ${f.what}: ${f.error}`);
  }
  return out.join("\n");
}
