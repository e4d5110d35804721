import { randomUUID } from "node:crypto";
import type { DataAccess, TransactionOptions, TransactionScope } from "../data/types.js";
import { NoDatabaseError } from "../errors/index.js";
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

let silent: Logger | undefined;
function silentLogger(): Logger {
  silent ??= createLogger(false, {});
  return silent;
}
