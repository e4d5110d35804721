import { context } from "@opentelemetry/api";
import type { FastifyReply, FastifyRequest } from "fastify";
import { FlotillaError } from "../errors/index.js";
import {
  extractHeaders,
  recordError,
  SpanKind,
  startSpan,
  tracingActive,
} from "../observability/tracing/trace.js";
import { traceHeadersOf } from "./request-id.js";
import type { GatewayRoute } from "./route-table.js";

/**
 * Runs one routed request: in an HTTP server span when tracing is on (named `GET /orders/:id`,
 * with the OpenTelemetry HTTP conventions, continuing a `traceparent` the client sent), so the
 * action call inside is its child. Without tracing, the client's `traceparent` and `tracestate`
 * are only carried on to the call as headers. `run` gets the headers to call with, and reports
 * the error behind a problem response it wrote with `fail`.
 *
 * @example
 * ```ts
 * return traced(request, reply, route, (headers) => broker.call(route.action, params, { headers }));
 * ```
 */
export function traced<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  route: GatewayRoute,
  run: (headers: Record<string, string> | undefined, fail: (err: unknown) => void) => Promise<T>,
): Promise<T> {
  if (!tracingActive()) return run(traceHeadersOf(request.headers), ignore);
  const method = request.method;
  const incoming = traceHeadersOf(request.headers);
  const { span, ctx } = startSpan(
    `${method} ${route.pattern.path}`,
    SpanKind.SERVER,
    extractHeaders(incoming),
    {
      "http.request.method": method,
      "http.route": route.pattern.path,
      "url.path": request.url.split("?")[0] ?? request.url,
      "url.scheme": request.protocol,
      "flotilla.request_id": request.id,
      "flotilla.action": route.action,
    },
  );
  const finish = (err: unknown): void => {
    const status = reply.statusCode;
    span.setAttribute("http.response.status_code", status);
    // A 4xx is the client's doing: the server span fails only on 5xx (HTTP conventions).
    if (status >= 500) recordError(span, err ?? new Error(`HTTP ${status}`));
    else if (err instanceof FlotillaError) span.setAttribute("flotilla.error.code", err.code);
    span.end();
  };
  // The error behind the answer, when `run` turned it into a problem response itself.
  let failure: unknown;
  const fail = (err: unknown): void => {
    failure = err;
  };
  return context
    .with(ctx, () => run(undefined, fail))
    .then(
      (value) => {
        finish(failure);
        return value;
      },
      (err: unknown) => {
        failure = err;
        finish(err);
        throw err;
      },
    );
}

function ignore(): void {}
