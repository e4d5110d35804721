import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { FlotillaError } from "../../errors/index.js";
import { w3cPropagator } from "./w3c.js";

/**
 * Flotilla's side of OpenTelemetry: spans are made on the global tracer of `@opentelemetry/api`,
 * so any SDK the process registers (Flotilla's own setup, or the application's) receives them.
 * Whether spans are made at all is decided by {@link refreshTracing} when a broker starts: with no
 * SDK registered, no span is made and the handlers are not even wrapped, so tracing costs nothing.
 */

const TRACER_NAME = "flotilla";
let tracer: Tracer | undefined;
let active = false;

/** The tracer spans are made on. */
export function flotillaTracer(): Tracer {
  tracer ??= trace.getTracer(TRACER_NAME);
  return tracer;
}

/**
 * Whether an OpenTelemetry SDK is registered (a probe span gets a real trace ID), remembered
 * until the next call. Brokers call it when they start.
 */
export function refreshTracing(): boolean {
  tracer = trace.getTracer(TRACER_NAME);
  const probe = tracer.startSpan("flotilla.probe", { root: true });
  active = isSpanContextValid(probe.spanContext());
  return active;
}

/** Whether spans are made (an SDK was registered when a broker last started). */
export function tracingActive(): boolean {
  return active;
}

/** Writes the trace context of `ctx` into `headers` (a copy of `base`, if any). */
export function injectHeaders(
  ctx: Context,
  base: Record<string, string> | undefined,
): Record<string, string> {
  const headers: Record<string, string> = base === undefined ? {} : { ...base };
  // The application's propagator when it registered one (B3, say), else W3C Trace Context.
  const propagator = propagation.fields().length > 0 ? propagation : w3cPropagator;
  propagator.inject(ctx, headers, {
    set(carrier: Record<string, string>, key: string, value: string) {
      carrier[key] = value;
    },
  });
  return headers;
}

/** The trace context carried by `headers` (`traceparent`/`tracestate`), or the root context. */
export function extractHeaders(headers: Record<string, string> | undefined): Context {
  if (headers === undefined) return ROOT_CONTEXT;
  const propagator = propagation.fields().length > 0 ? propagation : w3cPropagator;
  return propagator.extract(ROOT_CONTEXT, headers, {
    get: (carrier: Record<string, string>, key: string) => carrier[key],
    keys: (carrier: Record<string, string>) => Object.keys(carrier),
  });
}

/** Where a context keeps the OpenTelemetry context of its span, for the calls made from it. */
export const SPAN_CONTEXT: unique symbol = Symbol("flotilla.spanContext");

/** A Flotilla context that a traced handler runs in. */
export interface Traced {
  [SPAN_CONTEXT]?: Context;
}

/** The span context a call or event made from `parent` descends from: its span, else the current. */
export function parentSpanContext(parent: object | undefined): Context {
  return (parent as Traced | undefined)?.[SPAN_CONTEXT] ?? context.active();
}

/** Starts a span as a child of `parent`; returns it with the context that has it as current. */
export function startSpan(
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Attributes,
): { span: Span; ctx: Context } {
  const span = flotillaTracer().startSpan(name, { kind, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/**
 * Marks a span failed with what was thrown: the exception event, `ERROR` status, and the error's
 * stable Flotilla code as `error.type` (the class name for other errors).
 */
export function recordError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  const code = err instanceof FlotillaError ? err.code : error.name || "Error";
  span.setAttribute("error.type", code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/**
 * Runs `fn` with `span` current (so spans made inside, and other instrumentations, see it as
 * parent) and ends the span when the returned promise settles, recording a failure.
 */
export function runInSpan<T>(
  span: Span,
  ctx: Context,
  fn: () => T | Promise<T>,
  onEnd?: (err: unknown) => void,
): Promise<T> {
  let result: T | Promise<T>;
  try {
    result = context.with(ctx, fn);
  } catch (err) {
    recordError(span, err);
    onEnd?.(err);
    span.end();
    return Promise.reject(err);
  }
  return Promise.resolve(result).then(
    (value) => {
      onEnd?.(undefined);
      span.end();
      return value;
    },
    (err: unknown) => {
      recordError(span, err);
      onEnd?.(err);
      span.end();
      throw err;
    },
  );
}

/** The trace and span IDs of the current span, for log lines; `undefined` outside one. */
export function traceIdsOf(ctx: Context): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpan(ctx);
  if (span === undefined) return undefined;
  const sc = span.spanContext();
  return isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : undefined;
}

export { SpanKind };
