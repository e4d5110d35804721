import { randomUUID } from "node:crypto";

/**
 * nameko's context data on the wire: every key of a worker's `context_data` travels as an AMQP
 * header `nameko.<key>` (`call_id_stack`, `user_id`, `language`, `auth_token`, your own keys).
 * Flotilla keeps them in `ctx.meta.nameko`, without the prefix, so they ride along the call chain
 * and go out again with the next call or event to nameko.
 */

/** The meta key that holds nameko's context data. */
export const META_KEY = "nameko";

/** nameko's header prefix (`nameko.constants.HEADER_PREFIX`). */
const PREFIX = "nameko.";

/** nameko keeps a worker's own call ID plus this many parents (`parent_calls_tracked`). */
export const CALL_ID_STACK_DEPTH = 11;

/** Bounds what a stranger's headers may cost: keys taken, and the length of a string value. */
const MAX_KEYS = 64;
const MAX_STRING = 4096;

/** nameko's context data: `call_id_stack` and whatever else the caller's context carried. */
export interface NamekoContext {
  /** The IDs of the calls that led here, oldest first, this worker's own last. */
  call_id_stack?: string[];
  [key: string]: unknown;
}

/**
 * Reads `nameko.*` headers into context data, keeping only JSON-like values of bounded size;
 * anything else (other headers, oversized or odd values) is left out.
 */
export function decodeContext(headers: Record<string, unknown> | undefined): NamekoContext {
  const data: NamekoContext = {};
  if (headers === undefined || headers === null) return data;
  let taken = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(PREFIX) || taken >= MAX_KEYS) continue;
    const key = name.slice(PREFIX.length);
    if (key === "" || key === "__proto__") continue;
    if (key === "call_id_stack") {
      if (!Array.isArray(value)) continue;
      const ids = value.filter((id): id is string => typeof id === "string" && id.length < 512);
      data.call_id_stack = ids.slice(-CALL_ID_STACK_DEPTH);
    } else {
      const safe = boundedValue(value);
      if (safe === undefined) continue;
      data[key] = safe;
    }
    taken++;
  }
  return data;
}

/** A header value as JSON would carry it, or `undefined` when it is too large or odd. */
function boundedValue(value: unknown): unknown {
  if (typeof value === "string") return value.length <= MAX_STRING ? value : undefined;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (Buffer.isBuffer(value))
    return value.length <= MAX_STRING ? value.toString("utf8") : undefined;
  return undefined;
}

/**
 * The headers a call or event to nameko carries: every key of `data` (null and undefined values
 * dropped, as nameko drops them) under the `nameko.` prefix.
 */
export function encodeContext(data: NamekoContext): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (value === null || value === undefined) continue;
    headers[`${PREFIX}${key}`] = value;
  }
  return headers;
}

/** A new call ID as nameko makes them: `<service>.<method>.<uuid>`. */
export function newCallId(service: string, method: string): string {
  return `${service}.${method}.${randomUUID()}`;
}

/** The stack of a worker that handles a message whose context said `parent`. */
export function pushCallId(parent: readonly string[] | undefined, callId: string): string[] {
  return [...(parent ?? []), callId].slice(-CALL_ID_STACK_DEPTH);
}

/** The nameko context data in a meta object, if it carries one. */
export function contextOf(meta: Record<string, unknown> | undefined): NamekoContext | undefined {
  const value = meta?.[META_KEY];
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as NamekoContext)
    : undefined;
}

/**
 * The context data an outgoing call or event carries: the current worker's (from meta), or, for
 * a call that does not come from a nameko worker, a fresh stack naming the caller as nameko
 * would (`<service>.<method>.<uuid>`; `flotilla.call.<uuid>` outside any handler).
 */
export function outgoingContext(
  meta: Record<string, unknown> | undefined,
  caller: string | undefined,
): NamekoContext {
  const known = contextOf(meta);
  if (known?.call_id_stack !== undefined && known.call_id_stack.length > 0) return known;
  const [service, method] = splitCaller(caller);
  return { ...known, call_id_stack: [newCallId(service, method)] };
}

/** `orders.place` → `orders` / `place`; a caller without a dot is `flotilla.call`. */
function splitCaller(caller: string | undefined): [string, string] {
  if (caller === undefined) return ["flotilla", "call"];
  const dot = caller.lastIndexOf(".");
  return dot <= 0 ? [caller, "call"] : [caller.slice(0, dot), caller.slice(dot + 1)];
}
