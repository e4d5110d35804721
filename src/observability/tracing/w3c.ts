import {
  type Context,
  createTraceState,
  isSpanContextValid,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";

// version 00: 2 hex, 32 hex trace ID, 16 hex parent ID, 2 hex flags; later versions may append.
const TRACEPARENT = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;

/**
 * W3C Trace Context (`traceparent`, `tracestate`), used when the process registered no
 * propagator of its own: an SDK set up without one still gets traces that cross nodes.
 */
export const w3cPropagator: TextMapPropagator = {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpan(ctx);
    if (span === undefined) return;
    const sc = span.spanContext();
    if (!isSpanContextValid(sc)) return;
    const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, "0");
    setter.set(carrier, "traceparent", `00-${sc.traceId}-${sc.spanId}-${flags}`);
    const state = sc.traceState?.serialize();
    if (state !== undefined && state !== "") setter.set(carrier, "tracestate", state);
  },

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = first(getter.get(carrier, "traceparent"));
    const match = header === undefined ? null : TRACEPARENT.exec(header.trim());
    if (match === null) return ctx;
    const [, version, traceId, spanId, flags, rest] = match;
    // Version ff is invalid; version 00 has nothing after the flags.
    if (version === "ff" || (version === "00" && rest !== undefined)) return ctx;
    const state = first(getter.get(carrier, "tracestate"));
    const sc = {
      traceId: traceId!,
      spanId: spanId!,
      traceFlags: Number.parseInt(flags!, 16) & 1,
      isRemote: true,
      ...(state === undefined ? {} : { traceState: createTraceState(state) }),
    };
    return isSpanContextValid(sc) ? trace.setSpanContext(ctx, sc) : ctx;
  },

  fields(): string[] {
    return ["traceparent", "tracestate"];
  },
};

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
