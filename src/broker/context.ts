import { randomUUID } from "node:crypto";
import type { Service } from "../service/service.js";
import type { CallFn, EmitFn } from "../service/typed.js";
import type { Params } from "../service/types.js";
import type { CallOptions, EmitOptions, Meta } from "./options.js";

/** What a context needs from its broker: kept narrow so contexts stay cheap and testable. */
export interface ContextHost {
  readonly nodeID: string;
  call(name: string, params?: unknown, opts?: CallOptions): Promise<unknown>;
  emit(event: string, payload?: unknown, opts?: EmitOptions): Promise<void>;
  broadcast(event: string, payload?: unknown, opts?: EmitOptions): Promise<void>;
}

/** Where a context came from; decides its `caller`, level and inherited budget. */
export interface ContextInit<P> {
  params: P;
  meta?: Meta | undefined;
  parent?: Context | undefined;
  /** The action or event this context runs. */
  name: string;
  service?: Service | undefined;
  /** Time budget in ms (0 = none); capped by what the parent has left. */
  timeout?: number | undefined;
  requestID?: string | undefined;
  /** The node the call came from, when it came over the wire. */
  callerNodeID?: string | undefined;
  headers?: Record<string, string> | undefined;
  messageID?: string | undefined;
  attempt?: number | undefined;
  /** For a call or event that came over the wire: its place in the chain on the caller's side. */
  origin?:
    | { level: number; parentID?: string | undefined; caller?: string | undefined }
    | undefined;
}

/**
 * One call or event delivery: the params, the metadata carried down the chain, the IDs that
 * correlate the chain, and the time budget. `ctx.call` / `ctx.emit` pass all of it on.
 *
 * @example
 * ```ts
 * async handler(ctx) {
 *   const user = await ctx.call("users.get", { id: ctx.params.userId });
 *   ctx.meta.lastUser = user.id; // seen by later calls in this chain
 * }
 * ```
 */
export class Context<P = Params, M extends Meta = Meta> {
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
  readonly service: Service | undefined;
  /** Absolute deadline (epoch ms), 0 when the call has no time limit. */
  readonly deadline: number;
  /** Headers that travel with remote calls (trace context, for instance). */
  headers: Record<string, string> | undefined;
  /** A durable event's message ID: the same on every redelivery, so handlers can deduplicate. */
  messageID: string | undefined;
  /** A durable event's delivery attempt: 1 the first time. */
  attempt: number | undefined;
  #id: string | undefined;
  #requestID: string | undefined;

  constructor(host: ContextHost, init: ContextInit<P>) {
    const parent = init.parent;
    this.broker = host;
    this.name = init.name;
    this.params = init.params;
    this.service = init.service;
    this.headers = init.headers;
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

Context.prototype.call = function call(
  this: Context,
  name: string,
  params?: unknown,
  opts?: CallOptions,
): Promise<unknown> {
  return this.broker.call(name, params, opts ? { ...opts, parentCtx: this } : { parentCtx: this });
} as CallFn;

Context.prototype.emit = function emit(
  this: Context,
  event: string,
  payload?: unknown,
  opts?: EmitOptions,
): Promise<void> {
  return this.broker.emit(event, payload, { ...opts, parentCtx: this });
} as EmitFn;

Context.prototype.broadcast = function broadcast(
  this: Context,
  event: string,
  payload?: unknown,
  opts?: EmitOptions,
): Promise<void> {
  return this.broker.broadcast(event, payload, { ...opts, parentCtx: this });
} as EmitFn;
