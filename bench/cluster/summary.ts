// Folds the measurements of all rounds into one row per system and size (median, min–max),
// works out how each per-node cost grows with N, and prints the table the README quotes.
import { median } from "../observability.js";
import type { Measurement } from "./measure.js";
import { KINDS, type Traffic } from "./protocol.js";

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Rounds that gave a figure. */
  n: number;
}

export interface SummaryRow {
  system: string;
  size: number;
  rounds: number;
  /** Rounds that did not finish every phase, with why. */
  failures: string[];
  convergeMs?: Spread;
  noticeMs?: Spread;
  noticeFirstMs?: Spread;
  killed?: number;
  /** At rest, per node per second: discovery packets and bytes delivered to the node. */
  restPacketsIn?: Spread;
  restBytesIn?: Spread;
  /** At rest, per node per second: discovery packets and bytes the node handed out. */
  restPacketsOut?: Spread;
  restBytesOut?: Spread;
  restCpuMs?: Spread;
  natsServerCores?: Spread;
  machineCores?: Spread;
  /** The fewest others a node saw at rest, over all rounds (N-1 when nothing flapped). */
  minSeen?: number;
  /** From the start signal to convergence, per node: discovery bytes delivered, CPU ms. */
  convergeBytesIn?: Spread;
  convergePacketsIn?: Spread;
  convergeCpuMs?: Spread;
  heapPerNode?: Spread;
  joinedHeapPerNode?: Spread;
  rssPerNode?: Spread;
}

const DISCOVERY = KINDS.filter((k) => k !== "other");

function flowSum(t: Traffic, dir: "sent" | "received", what: "packets" | "bytes"): number {
  return DISCOVERY.reduce((a, k) => a + t[dir][k][what], 0);
}

function spread(xs: (number | undefined)[]): Spread | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return undefined;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

export function summarize(all: Measurement[]): SummaryRow[] {
  const keys = [...new Set(all.map((m) => `${m.system}\u0000${m.size}`))];
  return keys.map((key) => {
    const [system, size] = key.split("\u0000") as [string, string];
    const ms = all.filter((m) => m.system === system && m.size === Number(size));
    const rest = ms.map((m) => m.rest);
    // What it took to converge, from the rounds that did.
    const conv = ms.map((m) => (m.convergeMs === undefined ? undefined : m.toConverge));
    const row: SummaryRow = {
      system,
      size: Number(size),
      rounds: ms.length,
      failures: ms.filter((m) => m.error !== undefined).map((m) => `round ${m.round}: ${m.error}`),
      convergeMs: spread(ms.map((m) => m.convergeMs)),
      noticeMs: spread(ms.map((m) => m.notice?.lastMs)),
      noticeFirstMs: spread(ms.map((m) => m.notice?.firstMs)),
      killed: ms.find((m) => m.notice !== undefined)?.notice?.killed,
      restPacketsIn: spread(rest.map((r) => r && flowSum(r.perNodePerSec, "received", "packets"))),
      restBytesIn: spread(rest.map((r) => r && flowSum(r.perNodePerSec, "received", "bytes"))),
      restPacketsOut: spread(rest.map((r) => r && flowSum(r.perNodePerSec, "sent", "packets"))),
      restBytesOut: spread(rest.map((r) => r && flowSum(r.perNodePerSec, "sent", "bytes"))),
      restCpuMs: spread(rest.map((r) => r?.cpuMsPerNodePerSec)),
      natsServerCores: spread(rest.map((r) => r?.natsServerCores)),
      machineCores: spread(rest.map((r) => r?.machineCores)),
      convergeBytesIn: spread(conv.map((c) => c && flowSum(c.traffic, "received", "bytes"))),
      convergePacketsIn: spread(conv.map((c) => c && flowSum(c.traffic, "received", "packets"))),
      convergeCpuMs: spread(conv.map((c) => c?.cpuMs)),
      heapPerNode: spread(ms.map((m) => m.heap?.perNode)),
      joinedHeapPerNode: spread(ms.map((m) => m.heap?.joinedPerNode)),
      rssPerNode: spread(ms.map((m) => m.heap?.rssPerNode)),
    };
    const seen = rest.filter((r) => r !== undefined).map((r) => r.minSeen);
    if (seen.length > 0) row.minSeen = Math.min(...seen);
    return row;
  });
}

/**
 * How each per-node figure grows with N, per system: the exponent e in `figure ∝ N^e` between
 * the smallest and the largest N that converged (0: flat per node, so the cluster's total grows linearly;
 * 1: linear per node, so the total grows with N²), and the heap each known node adds (the
 * slope of the joined heap per node against N-1, least squares over the medians).
 */
export function growth(rows: SummaryRow[]) {
  const out: Record<string, Record<string, number | undefined>> = {};
  for (const system of new Set(rows.map((r) => r.system))) {
    // Between the smallest and the largest N that converged.
    const mine = rows
      .filter((r) => r.system === system && r.convergeMs !== undefined)
      .sort((a, b) => a.size - b.size);
    const lo = mine[0];
    const hi = mine[mine.length - 1];
    if (lo === undefined || hi === undefined || lo.size === hi.size) continue;
    const exp = (pick: (r: SummaryRow) => Spread | undefined) => {
      const a = pick(lo)?.median;
      const b = pick(hi)?.median;
      if (a === undefined || b === undefined || a <= 0 || b <= 0) return undefined;
      return +(Math.log(b / a) / Math.log(hi.size / lo.size)).toFixed(2);
    };
    const pts = mine
      .filter((r) => r.joinedHeapPerNode !== undefined)
      .map((r) => [r.size - 1, r.joinedHeapPerNode!.median] as const);
    out[system] = {
      convergeMs: exp((r) => r.convergeMs),
      convergeBytesInPerNode: exp((r) => r.convergeBytesIn),
      convergeCpuMsPerNode: exp((r) => r.convergeCpuMs),
      restBytesInPerNode: exp((r) => r.restBytesIn),
      restCpuMsPerNode: exp((r) => r.restCpuMs),
      noticeMs: exp((r) => r.noticeMs),
      heapBytesPerKnownNode: pts.length >= 2 ? Math.round(slope(pts)) : undefined,
    };
  }
  return out;
}

function slope(pts: readonly (readonly [number, number])[]): number {
  const n = pts.length;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  const num = pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = pts.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** `1.2 (0.9–1.5)`, with `unit` applied to all three. */
function fmt(s: Spread | undefined, f: (x: number) => string): string {
  if (s === undefined) return "—";
  if (s.n === 1 || s.min === s.max) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

const secs = (ms: number) => (ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2));
const num = (x: number) =>
  x >= 100 ? Math.round(x).toLocaleString("en-US") : x >= 10 ? x.toFixed(1) : x.toFixed(2);
const kb = (x: number) => num(x / 1024);

/** The README's table: one row per system and N, medians with min–max over the rounds. */
export function markdownTable(rows: SummaryRow[], labels: Record<string, string>): string {
  const head = [
    "system",
    "N",
    "converge, s",
    "notice a kill, s",
    "at rest: discovery pkt/s in per node",
    "at rest: discovery KB/s in per node",
    "at rest: CPU ms/s per node",
    "to converge: KB in per node",
    "to converge: CPU ms per node",
    "heap KB per node (joined)",
  ];
  const lines = [
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => (i < 2 ? "---" : "--:")).join("|")}|`,
  ];
  for (const r of rows) {
    const flap =
      r.minSeen !== undefined && r.minSeen < r.size - 1 ? ` ⚠ min seen ${r.minSeen}` : "";
    const failed = r.failures.length > 0 ? ` (${r.rounds - r.failures.length}/${r.rounds} ok)` : "";
    lines.push(
      `| ${labels[r.system] ?? r.system}${failed} | ${r.size} | ${fmt(r.convergeMs, secs)} | ${fmt(r.noticeMs, secs)}${r.killed ? ` (${r.killed} killed)` : ""} | ${fmt(r.restPacketsIn, num)}${flap} | ${fmt(r.restBytesIn, kb)} | ${fmt(r.restCpuMs, num)} | ${fmt(r.convergeBytesIn, kb)} | ${fmt(r.convergeCpuMs, num)} | ${fmt(r.joinedHeapPerNode, kb)} |`,
    );
  }
  return lines.join("\n");
}
