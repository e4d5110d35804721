import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** The header that carries the request ID in and out. */
export const REQUEST_ID_HEADER = "x-request-id";

// A caller's ID is reused only when it is short and plain: it ends up in logs and headers.
const SAFE_ID = /^[\w.:@/+=-]{1,128}$/;
// W3C Trace Context, version 00 (and future versions, which keep the same prefix).
const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}(?:-.*)?$/;

/**
 * Fastify's `genReqId`: the caller's `x-request-id` when it looks sane, else a fresh UUID. The
 * ID becomes the call's `requestID`, so every context of the request shares it.
 *
 * @example
 * ```ts
 * Fastify({ genReqId: requestIdOf });
 * ```
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === "string" && SAFE_ID.test(given) ? given : randomUUID();
}

/**
 * The trace headers the client sent: `traceparent` (and `tracestate` with it) when valid, else
 * `undefined`. With tracing on, the gateway's HTTP span continues them (src/gateway/tracing.ts);
 * without, they are carried on to the call as they are.
 *
 * @example
 * ```ts
 * broker.call(action, params, { headers: traceHeadersOf(request.headers) });
 * ```
 */
export function traceHeadersOf(
  headers: IncomingMessage["headers"],
): Record<string, string> | undefined {
  const traceparent = headers.traceparent;
  if (typeof traceparent !== "string" || !TRACEPARENT.test(traceparent)) return undefined;
  const tracestate = headers.tracestate;
  return typeof tracestate === "string" && tracestate.length <= 512
    ? { traceparent, tracestate }
    : { traceparent };
}
