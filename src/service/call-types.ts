import type { StandardSchemaV1 } from "@standard-schema/spec";

/**
 * The per-call types: what one call or event carries (meta, options, the parent's place in the
 * chain) and what a schema makes of params. This module imports nothing, so every layer (service
 * types, middleware, registry, transit, broker) can use it without an import circle.
 */

/** Free-form call metadata, carried down the call chain. Augment it to type your keys. */
export interface Meta {
  [key: string]: unknown;
}

/** Params of an action (or payload of an event) that declares no schema. */
export type Params = Record<string, unknown>;

/** The type a schema accepts: what callers pass. */
export type InferInput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : Params;

/** The type a schema produces after validation (and coercion): what handlers see. */
export type InferOutput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : Params;

/**
 * The part of a context that the calls and events made from it inherit: its IDs, its place in
 * the chain, its meta, headers and deadline. Every `Context` is one.
 */
export interface ParentContext {
  /** The action or event name. */
  readonly name: string;
  readonly id: string;
  readonly requestID: string;
  readonly level: number;
  meta: Meta;
  headers: Record<string, string> | undefined;
  /** Absolute deadline (epoch ms), 0 when there is none. */
  readonly deadline: number;
  /** Milliseconds left before the deadline (`Infinity` without one). */
  readonly remaining: number;
  /** The service handling it, when a handler runs it. */
  readonly service: { readonly fullName: string } | undefined;
  /** Aborts when the work is no longer wanted; calls made from this context follow it. */
  readonly signal?: AbortSignal | undefined;
}

/** Answers a call with a value instead of its error: a function of the error, or a fixed value. */
export type Fallback =
  | ((error: unknown, ctx?: ParentContext & { readonly params: unknown }) => unknown)
  | { value: unknown };

/** Options of one call. */
export interface CallOptions {
  /** Merged over the parent's meta; the merged object travels down the chain. */
  meta?: Meta;
  /** Time budget in ms; defaults to the action's, then what the parent has left, then the broker's. */
  timeout?: number;
  /** The context this call is made from (set for you by `ctx.call`). */
  parentCtx?: ParentContext;
  /** Run on this node only. */
  nodeID?: string;
  /** Correlates all calls of one request; generated at the edge when absent. */
  requestID?: string;
  /**
   * Headers that travel with the call (e.g. `traceparent`); the handler sees them in
   * `ctx.headers`. Merged over the parent's headers, which a call inherits.
   */
  headers?: Record<string, string>;
  /** Retry after retryable errors this many times, even if the action is not marked idempotent. */
  retries?: number;
  /** Answer with this instead of an error of this call. */
  fallback?: Fallback;
  /** Nodes not to send this call to while others can take it (set by retries). */
  avoidNodeIDs?: readonly string[];
  /**
   * Cancels the call: it rejects at once with `CALL_ABORTED`, and the handler's `ctx.signal`
   * aborts (on another node too: a CANCEL packet tells it). Calls made from a handler follow
   * the handler's `ctx.signal` without this option.
   */
  signal?: AbortSignal;
}

/** Options of one emit or broadcast. */
export interface EmitOptions {
  /** Merged over the parent's meta. */
  meta?: Meta;
  /** Headers that travel with the event (`ctx.headers` in handlers); merged over the parent's. */
  headers?: Record<string, string>;
  /** The context this event is emitted from (set for you by `ctx.emit`). */
  parentCtx?: ParentContext;
  /** Deliver only to these balancing groups (default: every subscribing group). */
  groups?: readonly string[];
  /**
   * Publish to the durable stream even if no durable handler is known yet (one may be down).
   * Events that durable handlers listen to are published durably anyway.
   */
  durable?: boolean;
  /**
   * The durable message's ID (default: a new UUID). Pass the same ID when you retry an emit whose
   * outcome you do not know, so consumers can recognise the duplicate (`ctx.messageID`).
   */
  messageID?: string;
}

/**
 * One event with its place in the chain: what every copy of it carries (on the wire, in a durable
 * stream), whoever it is routed to.
 */
export interface EventEnvelope {
  readonly event: string;
  readonly payload: unknown;
  readonly meta: Meta;
  readonly requestID: string;
  readonly parentID?: string | undefined;
  readonly level: number;
  readonly caller?: string | undefined;
  readonly headers?: Record<string, string> | undefined;
  /**
   * The message ID the emitter gave (`emit(…, { messageID })`, the outbox's row): carried to
   * handlers on other nodes too, so a re-published event keeps its ID wherever it is handled.
   */
  readonly messageID?: string | undefined;
}

/** What a context needs from its broker: kept narrow so contexts stay cheap and testable. */
export interface ContextHost {
  readonly nodeID: string;
  call(name: string, params?: unknown, opts?: CallOptions): Promise<unknown>;
  emit(event: string, payload?: unknown, opts?: EmitOptions): Promise<void>;
  broadcast(event: string, payload?: unknown, opts?: EmitOptions): Promise<void>;
}
