import { type HrTime, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-node";
import type { Screen } from "./screen.js";

/** What the tree shows of one span. */
export interface SpanLine {
  id: string;
  parentId: string | undefined;
  name: string;
  kind: string;
  /** Start, in ms since the epoch. */
  start: number;
  durationMs: number;
  nodeID: string | undefined;
  /** The error code (`error.type`) of a failed span. */
  error: string | undefined;
}

const KINDS: Record<number, string> = {
  [SpanKind.INTERNAL]: "internal",
  [SpanKind.SERVER]: "server",
  [SpanKind.CLIENT]: "client",
  [SpanKind.PRODUCER]: "producer",
  [SpanKind.CONSUMER]: "consumer",
};

const ms = (t: HrTime) => t[0] * 1000 + t[1] / 1e6;

/** The parts of an OpenTelemetry span the tree shows. */
export function spanLine(span: ReadableSpan): SpanLine {
  const node = span.attributes["flotilla.node_id"];
  const failed = span.status.code === SpanStatusCode.ERROR;
  return {
    id: span.spanContext().spanId,
    parentId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: KINDS[span.kind] ?? "span",
    start: ms(span.startTime),
    durationMs: ms(span.duration),
    nodeID: typeof node === "string" ? node : undefined,
    error: failed ? String(span.attributes["error.type"] ?? "ERROR") : undefined,
  };
}

/**
 * The spans of one trace as an indented tree, children under their parent in start order; a span
 * whose parent is not among them (made on a node that kept it) is shown as a root.
 *
 * @example
 * ```ts
 * formatSpanTree([{ id: "a", parentId: undefined, name: "math/add", kind: "client", ... }]);
 * // ["math/add  client  cli-1  1.20 ms"]
 * ```
 */
export function formatSpanTree(spans: readonly SpanLine[], screen?: Screen): string[] {
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map<string | undefined, SpanLine[]>();
  for (const span of spans) {
    const parent =
      span.parentId !== undefined && ids.has(span.parentId) ? span.parentId : undefined;
    const list = children.get(parent) ?? [];
    list.push(span);
    children.set(parent, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.start - b.start);
  const dim = screen?.dim ?? ((t: string) => t);
  const red = screen?.red ?? ((t: string) => t);
  const bold = screen?.bold ?? ((t: string) => t);
  const lines: string[] = [];
  const walk = (parent: string | undefined, indent: string, depth: number) => {
    const list = children.get(parent) ?? [];
    list.forEach((span, i) => {
      const last = i === list.length - 1;
      const branch = depth === 0 ? "" : last ? "└─ " : "├─ ";
      const time = span.durationMs < 10 ? span.durationMs.toFixed(2) : span.durationMs.toFixed(1);
      const failed = span.error === undefined ? "" : `  ${red(span.error)}`;
      lines.push(
        `${indent}${branch}${bold(span.name)}  ${dim(span.kind)}  ${span.nodeID ?? "-"}  ${time} ms${failed}`,
      );
      const next = depth === 0 ? indent : `${indent}${last ? "   " : "│  "}`;
      if (depth < 64) walk(span.id, next, depth + 1);
    });
  };
  walk(undefined, "", 0);
  return lines;
}
