import { randomUUID } from "node:crypto";
import type { DataAccess, TransactionOptions, TransactionScope } from "../data/types.js";
import { NoDatabaseError, RequestTimeoutError } from "../errors/index.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { parentSpanContext as spanContextOf, traceIdsOf } from "../observability/tracing/trace.js";
import type {
  CallOptions,
  ContextHost,
  EmitOptions,
  Meta,
  Params,
  ParentContext,
} from "../service/call-types.js";
import type { CallFn, EmitFn } from "../service/typed.js";
import type { Context, ContextInit, ServiceInstance } from "../service/types.js";

/**
 * The headers of a call or event made from `parent`: the parent's (a `traceparent` that came in
 * through the gateway, say), with the call's own merged over them, so a per-call value wins.
 *
 * @example
 * ```ts
 * inheritHeaders(ctx, { "x-tenant": "b" }); // { traceparent: "00-…", "x-tenant": "b" }
 * ```
 */
export function inheritHeaders(
  parent: ParentContext | undefined,
  own: Record<string, string> | undefined,
): Record<string, string> | undefined {
  const inherited = parent?.headers;
  if (inherited === undefined) return own;
  return own === undefined ? inherited : { ...inherited, ...own };
}

/**
 * The {@link Context} of one call or event delivery, as the broker builds it: cheap to make (IDs
 * are generated on first read), and carrying the chain's meta, IDs, level and budget on to the
 * calls and events made from it.
 */
export class CallContext<P = Params, M extends Meta = Meta> implements Context<P, M> {
  /** The broker (node) running this context. */
  readonly broker: ContextHost;
  /** The action (`"users.get"`) or event (`"orders.placed"`) name. */
  readonly name: string;
  /** Validated params (or event payload). */
  params: P;
  /** Metadata shared along the call chain. */
  meta: M;
  /** Depth in the call chain: 1 for a call from outside a handler. */
  readonly level: number;
  /** The ID of the context that made this call, if any. */
  readonly parentID: string | undefined;
  /** The full name of the calling service, if the call came from a handler. */
  readonly caller: string | undefined;
  /** The node the call came from. */
  readonly callerNodeID: string;
  /** The service that handles this context. */
  readonly service: ServiceInstance | undefined;
  /** Absolute deadline (epoch ms), 0 when the call has no time limit. */
  readonly deadline: number;
  /** Headers that travel with remote calls (trace context, for instance). */
  headers: Record<string, string> | undefined;
  /** A durable event's message ID: the same on every redelivery, so handlers can deduplicate. */
  messageID: string | undefined;
  /** A durable event's delivery attempt: 1 the first time. */
  attempt: number | undefined;
  /** An action call, or an event delivery (set by the emitter). */
  kind: "action" | "event" = "action";
  #id: string | undefined;
  #logger: Logger | undefined;
  #requestID: string | undefined;
  /** What `signal` follows besides its own deadline: the parent context, the caller's signal. */
  #parent: ParentContext | undefined;
  /** Cancellation state, made only when a context is cancelled, followed or asked for its signal. */
  #c: CancelState | undefined;

  constructor(host: ContextHost, init: ContextInit<P>) {
    const parent = init.parent;
    this.broker = host;
    this.name = init.name;
    this.params = init.params;
    this.service = init.service;
    this.headers = parent === undefined ? init.headers : inheritHeaders(parent, init.headers);
    this.messageID = init.messageID;
    this.attempt = init.attempt;
    this.#id = undefined;
    this.callerNodeID = init.callerNodeID ?? host.nodeID;
    this.#parent = parent;
    this.#c = init.signal === undefined ? undefined : { ended: false, follow: init.signal };
    if (parent === undefined) {
      this.meta = (init.meta ?? {}) as M;
      this.level = init.origin?.level ?? 1;
      this.parentID = init.origin?.parentID;
      this.caller = init.origin?.caller;
      this.#requestID = init.requestID;
      this.deadline = init.timeout ? Date.now() + init.timeout : 0;
    } else {
      this.meta = (init.meta === undefined ? parent.meta : { ...parent.meta, ...init.meta }) as M;
      this.level = parent.level + 1;
      this.parentID = parent.id;
      this.caller = parent.service?.fullName;
      this.#requestID = init.requestID ?? parent.requestID;
      const own = init.timeout ? Date.now() + init.timeout : 0;
      this.deadline =
        parent.deadline === 0 ? own : own === 0 ? parent.deadline : Math.min(own, parent.deadline);
    }
  }

  /** Unique ID of this context (generated on first read). */
  get id(): string {
    if (this.#id === undefined) this.#id = randomUUID();
    return this.#id;
  }

  /** Correlates every context of one request; the root context's ID unless given at the edge. */
  get requestID(): string {
    if (this.#requestID === undefined) this.#requestID = this.id;
    return this.#requestID;
  }

  /**
   * The service's logger with this context bound: `requestID`, `action` or `event`, and the
   * `trace_id` / `span_id` of the handler's span when it is traced. Made on first use.
   */
  get logger(): Logger {
    if (this.#logger !== undefined) return this.#logger;
    const base = this.service?.logger ?? (this.broker as { logger?: Logger }).logger;
    const bindings: Record<string, unknown> = { requestID: this.requestID, [this.kind]: this.name };
    const ids = traceIdsOf(spanContextOf(this));
    if (ids !== undefined) Object.assign(bindings, ids);
    this.#logger = base === undefined ? silentLogger() : base.child(bindings);
    return this.#logger;
  }

  /** Milliseconds left before the deadline (`Infinity` without one, never negative). */
  get remaining(): number {
    return this.deadline === 0 ? Number.POSITIVE_INFINITY : Math.max(0, this.deadline - Date.now());
  }

  /**
   * Aborts when the work is no longer wanted: the deadline passed (reason: `REQUEST_TIMEOUT`), the
   * caller cancelled or its node left (`CALL_ABORTED`), or the context this one was called from
   * was cancelled. Made on first read, so handlers that never look at it pay nothing.
   */
  get signal(): AbortSignal {
    const c = stateOf(this);
    if (c.abort !== undefined) return c.abort.signal;
    const own = new AbortController();
    c.abort = own;
    const abort = (reason: unknown) => {
      if (!own.signal.aborted) own.abort(reason);
    };
    if (c.cancelled !== undefined) abort(c.cancelled.reason);
    // The parent's cancellation reaches this context through the parent's dependents (cheap),
    // not `AbortSignal.any` or a listener (each costs microseconds on Node 20).
    if (this.#parent instanceof CallContext) CallContext.follow(this.#parent, abort);
    const follow = c.follow;
    if (follow !== undefined) {
      if (follow.aborted) abort(follow.reason);
      else follow.addEventListener("abort", () => abort(follow.reason), { once: true });
    }
    if (this.deadline !== 0 && !c.ended && !own.signal.aborted) {
      const left = this.deadline - Date.now();
      const expire = () =>
        abort(
          new RequestTimeoutError(this.name, Math.max(0, left), {
            data: { action: this.name, reason: "deadline passed" },
          }),
        );
      if (left <= 0) expire();
      else {
        c.timer = setTimeout(expire, left);
        c.timer.unref();
      }
    }
    return own.signal;
  }

  /** The cancellation state of `ctx`, made on first need. */
  static state<P, M extends Meta>(ctx: CallContext<P, M>): CancelState {
    let c = ctx.#c;
    if (c === undefined) {
      c = { ended: false };
      ctx.#c = c;
    }
    return c;
  }

  /**
   * Cancels `ctx`: its `signal` aborts with `reason` (now or when first read), and what follows
   * it (calls made from it, their contexts) is told.
   */
  static cancel<P, M extends Meta>(ctx: CallContext<P, M>, reason: unknown): void {
    const c = stateOf(ctx);
    if (c.ended || c.cancelled !== undefined) return;
    c.cancelled = { reason };
    if (c.abort !== undefined && !c.abort.signal.aborted) c.abort.abort(reason);
    const dependents = c.dependents;
    c.dependents = undefined;
    if (dependents !== undefined) for (const fn of dependents) fn(reason);
  }

  /**
   * Runs `fn` when `ctx` is cancelled (at once if it already was). Returns what removes it again
   * (a call made from the context that ended).
   */
  static follow<P, M extends Meta>(
    ctx: CallContext<P, M>,
    fn: (reason: unknown) => void,
  ): () => void {
    const c = stateOf(ctx);
    if (c.cancelled !== undefined) {
      fn(c.cancelled.reason);
      return noop;
    }
    if (c.ended) return noop;
    const dependents = c.dependents ?? new Set();
    c.dependents = dependents;
    dependents.add(fn);
    return () => dependents.delete(fn);
  }

  /**
   * Makes `ctx` follow the cancellation of the context it was called from (a nested call on this
   * node), until it ends. Returns whether it did (the parent is a context of this node).
   */
  static chain<P, M extends Meta>(ctx: CallContext<P, M>): boolean {
    const parent = ctx.#parent;
    if (!(parent instanceof CallContext)) return false;
    const c = stateOf(ctx);
    c.unchain = CallContext.follow(parent, (reason) => CallContext.cancel(ctx, reason));
    return true;
  }

  /** The handler has settled: the deadline timer and the dependents are no longer needed. */
  static end<P, M extends Meta>(ctx: CallContext<P, M>): void {
    const c = stateOf(ctx);
    c.unchain?.();
    c.unchain = undefined;
    c.ended = true;
    if (c.timer !== undefined) clearTimeout(c.timer);
    c.timer = undefined;
    c.dependents = undefined;
  }

  /** Calls an action as part of this context's chain (meta, IDs, level and budget carried on). */
  declare call: CallFn;
  /** Emits an event as part of this context's chain. */
  declare emit: EmitFn;
  /** Broadcasts an event as part of this context's chain. */
  declare broadcast: EmitFn;
}

CallContext.prototype.call = function call(
  this: CallContext,
  name: string,
  params?: unknown,
  opts?: CallOptions,
): Promise<unknown> {
  return this.broker.call(name, params, opts ? { ...opts, parentCtx: this } : { parentCtx: this });
} as CallFn;

CallContext.prototype.emit = function emit(
  this: CallContext,
  event: string,
  payload?: unknown,
  opts?: EmitOptions,
): Promise<void> {
  return this.broker.emit(event, payload, { ...opts, parentCtx: this });
} as EmitFn;

CallContext.prototype.broadcast = function broadcast(
  this: CallContext,
  event: string,
  payload?: unknown,
  opts?: EmitOptions,
): Promise<void> {
  return this.broker.broadcast(event, payload, { ...opts, parentCtx: this });
} as EmitFn;

// `ctx.db` and `ctx.transaction` for handlers of a service with a database (typed by the
// service's `defineDatabase<DB>()`; see src/data/). On the prototype, so contexts of services
// without a database pay nothing for them.
Object.defineProperty(CallContext.prototype, "db", {
  get(this: CallContext) {
    return dataOf(this).dbFor(this);
  },
  configurable: true,
});

Object.defineProperty(CallContext.prototype, "transaction", {
  value: function transaction(
    this: CallContext,
    fn: (tx: TransactionScope<unknown>) => Promise<unknown>,
    opts?: TransactionOptions,
  ): Promise<unknown> {
    try {
      return dataOf(this).transaction(this, fn, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  },
  configurable: true,
  writable: true,
});

function dataOf(ctx: CallContext): DataAccess {
  const data = ctx.service?.data;
  if (data === undefined) throw new NoDatabaseError(ctx.service?.fullName ?? ctx.name);
  return data;
}

function noop(): void {}

function stateOf<P, M extends Meta>(ctx: CallContext<P, M>): CancelState {
  return CallContext.state(ctx);
}

/** A context's cancellation: made on first need, so plain calls carry one field for it. */
export interface CancelState {
  /** Handler settled: no timer, no dependents. */
  ended: boolean;
  /** The caller's `signal` option, which `signal` follows. */
  follow?: AbortSignal | undefined;
  abort?: AbortController | undefined;
  timer?: NodeJS.Timeout | undefined;
  /** Set once cancelled, with why. */
  cancelled?: { reason: unknown } | undefined;
  /** Told when the context is cancelled: calls made from it, the signals of their contexts. */
  dependents?: Set<(reason: unknown) => void> | undefined;
  /** Removes the context from its parent's dependents (see `chain`). */
  unchain?: (() => void) | undefined;
}

/**
 * Where a caller that cannot make an `AbortSignal` per call (the gateway: one per request would
 * cost microseconds each) learns how to cancel the call it makes: put an object under this key
 * of the call options, and the invoker (or transit) sets its `cancel` once the call is under way.
 */
export const CANCEL_HOOK: unique symbol = Symbol("flotilla.cancelHook");

/** The object under {@link CANCEL_HOOK}. */
export interface CancelHook {
  cancel?: ((reason: unknown) => void) | undefined;
}

/** The cancel hook of call options, if the caller put one there. */
export function cancelHookOf(opts: object | undefined): CancelHook | undefined {
  return (opts as { [CANCEL_HOOK]?: CancelHook } | undefined)?.[CANCEL_HOOK];
}

let silent: Logger | undefined;
function silentLogger(): Logger {
  silent ??= createLogger(false, {});
  return silent;
}
