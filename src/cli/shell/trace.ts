import { randomBytes } from "node:crypto";
import { context, TraceFlags, trace } from "@opentelemetry/api";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-node";
import { wantsTracingSdk } from "../../observability/tracing/sdk-env.js";
import { optionalDependency } from "../../util/optional.js";

/** Most spans one traced call keeps (a call that fans out wide is cut there). */
const MAX_SPANS = 500;

const loadSdk = optionalDependency(
  "@opentelemetry/sdk-trace-node",
  "The shell's trace command",
  () => import("@opentelemetry/sdk-trace-node"),
);

/** How the shell sees the spans of the calls it traces. */
export type SpanSource =
  /** An in-memory recorder: spans that end in this process come back to `trace`. */
  | { kind: "memory"; watch(traceId: string): () => ReadableSpan[]; close(): Promise<void> }
  /** `$OTEL_TRACES_EXPORTER` set: the node's own SDK exports the spans; `trace` names the trace. */
  | { kind: "exported"; exporter: string }
  /** No tracing: why (a missing SDK package, the console exporter). */
  | { kind: "off"; reason: unknown };

/**
 * Sets up tracing for the shell before its node starts: an OpenTelemetry SDK whose only span
 * processor keeps the spans of the traces `trace` asks for, in memory, and drops the rest. The
 * spans of a call that ran on another node are made and exported there; only those that end in
 * this process (the client span, and everything when the service runs in the same process) come
 * back. With `$OTEL_TRACES_EXPORTER` set, the node installs that exporter instead.
 *
 * @example
 * ```ts
 * const spans = await spanSource(process.env); // before broker.start()
 * ```
 */
export async function spanSource(env: NodeJS.ProcessEnv = process.env): Promise<SpanSource> {
  if (wantsTracingSdk(undefined, env)) {
    const exporter = env.OTEL_TRACES_EXPORTER ?? "";
    if (
      exporter
        .toLowerCase()
        .split(",")
        .some((n) => n.trim() === "console")
    ) {
      return {
        kind: "off",
        reason: "OTEL_TRACES_EXPORTER=console would print spans into the shell",
      };
    }
    return { kind: "exported", exporter };
  }
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") {
    return { kind: "off", reason: "OTEL_SDK_DISABLED=true" };
  }
  let sdk: Awaited<ReturnType<typeof loadSdk>>;
  try {
    sdk = await loadSdk();
  } catch (err) {
    return { kind: "off", reason: err };
  }
  const watched = new Map<string, ReadableSpan[]>();
  const recorder: SpanProcessor = {
    onStart() {},
    onEnd(span) {
      const list = watched.get(span.spanContext().traceId);
      if (list !== undefined && list.length < MAX_SPANS) list.push(span);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new sdk.NodeTracerProvider({ spanProcessors: [recorder] });
  provider.register();
  return {
    kind: "memory",
    watch(traceId) {
      const list: ReadableSpan[] = [];
      watched.set(traceId, list);
      return () => {
        watched.delete(traceId);
        return list;
      };
    },
    async close() {
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

/**
 * A new, sampled trace: the calls made in `run` become children of a trace context with a fresh
 * trace ID (no span of its own, so the tree starts at the call).
 *
 * @example
 * ```ts
 * const t = newTrace();
 * await t.run(() => broker.call("math.add", { a: 1, b: 2 })); // its spans carry t.traceId
 * ```
 */
export function newTrace(): { traceId: string; run<T>(fn: () => Promise<T>): Promise<T> } {
  const traceId = randomBytes(16).toString("hex");
  const parent = trace.wrapSpanContext({
    traceId,
    spanId: randomBytes(8).toString("hex"),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
  return {
    traceId,
    run: (fn) => context.with(trace.setSpan(context.active(), parent), fn),
  };
}
