import {
  BrokerStoppedError,
  CallAbortedError,
  MaxCallLevelError,
  RequestTimeoutError,
  ServiceNotFoundError,
} from "../errors/index.js";
import type { LocalAction } from "../registry/local.js";
import type { Registry } from "../registry/registry.js";
import type { CallOptions, ContextHost, ParentContext } from "../service/call-types.js";
import type { Context } from "../service/types.js";
import { CallContext, cancelHookOf } from "./context.js";
import type { Remote } from "./remote.js";

/** Settings the invoker reads on every call. */
export interface InvokerSettings {
  maxCallLevel: number;
  /** Use the local instance of an action when there is one (default); else balance across all. */
  preferLocal: boolean;
}

/**
 * Routes one call: to the local action when this node serves it (no serialization, one context
 * allocated), otherwise to `remote`. Always answers with a promise, never throws synchronously.
 */
export class Invoker {
  /** The other nodes, while the broker is connected (set by the broker). */
  remote: Remote | undefined;
  /** False once the broker is stopped: new calls are refused. */
  accepting = true;

  constructor(
    private readonly host: ContextHost,
    private readonly registry: Registry,
    private readonly settings: InvokerSettings,
  ) {}

  call(name: string, params: unknown, opts: CallOptions | undefined): Promise<unknown> {
    try {
      if (!this.accepting) throw new BrokerStoppedError(this.host.nodeID);
      const parent = opts?.parentCtx;
      const action = this.registry.actions.get(name);
      const onThisNode = opts?.nodeID === undefined || opts.nodeID === this.host.nodeID;
      if (action !== undefined && onThisNode && visibleTo(action, parent)) {
        const balanced =
          this.settings.preferLocal || opts?.nodeID !== undefined
            ? undefined
            : this.remote?.call(name, params, opts, true);
        return balanced ?? this.local(action, params, opts, parent);
      }
      const remote = this.remote?.call(name, params, opts, false);
      if (remote !== undefined) return remote;
      throw new ServiceNotFoundError(name, { nodeID: this.host.nodeID });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Runs a call that arrived from another node on a local action. */
  callFromRemote(action: LocalAction, ctx: Context<unknown>): Promise<unknown> {
    return settle(action.handler(ctx));
  }

  private local(
    action: LocalAction,
    params: unknown,
    opts: CallOptions | undefined,
    parent: ParentContext | undefined,
  ): Promise<unknown> {
    const explicit = opts?.timeout ?? action.definition.timeout;
    const ctx = new CallContext(this.host, {
      name: action.name,
      params: params ?? {},
      meta: opts?.meta,
      parent,
      service: action.service,
      // The broker's default budget is applied per remote hop; only an explicit timeout (or one
      // inherited from the parent) becomes a deadline here, which keeps clock reads off the
      // local fast path.
      timeout: explicit,
      requestID: opts?.requestID,
      headers: opts?.headers,
      signal: opts?.signal,
    });
    if (ctx.level > this.settings.maxCallLevel) throw new MaxCallLevelError(ctx.level);
    if (parent !== undefined && ctx.deadline !== 0 && ctx.deadline <= Date.now()) {
      throw new RequestTimeoutError(action.name, 0, {
        data: { action: action.name, reason: "deadline passed" },
      });
    }
    // A plain call (no options, not from a handler) stays on the short path.
    if (opts === undefined && parent === undefined) {
      const result = settle(action.handler(ctx));
      return ctx.deadline === 0 ? result : watch(ctx, result, action.name, undefined);
    }
    return cancellable(action, ctx, opts, parent !== undefined);
  }
}

/**
 * Runs a call that may be cancelled: by the caller's `signal` or cancel hook, or (a nested call)
 * with the context it was made from.
 */
function cancellable(
  action: LocalAction,
  ctx: CallContext<unknown>,
  opts: CallOptions | undefined,
  nested: boolean,
): Promise<unknown> {
  const signal = opts?.signal;
  if (signal?.aborted) throw CallAbortedError.of(action.name, signal);
  const hook = cancelHookOf(opts);
  if (hook !== undefined) hook.cancel = (reason) => CallContext.cancel(ctx, reason);
  // A nested call follows its parent's cancellation until it ends.
  const chained = nested && CallContext.chain(ctx);
  const result = settle(action.handler(ctx));
  // Without a deadline, a caller's signal or a parent there is nothing to clear or race.
  if (ctx.deadline === 0 && signal === undefined && !chained) return result;
  return watch(ctx, result, action.name, signal);
}

/**
 * Ends `ctx` (its deadline timer) when the handler settles; with a caller's `signal`, the call
 * rejects as soon as that aborts (the handler sees it on `ctx.signal` and may stop).
 */
function watch(
  ctx: CallContext<unknown>,
  result: Promise<unknown>,
  action: string,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const end = () => CallContext.end(ctx);
  if (signal === undefined) {
    result.then(end, end);
    return result;
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      const error = CallAbortedError.of(action, signal);
      // What the handler started (its nested calls, their nodes' handlers) is cancelled too.
      CallContext.cancel(ctx, error);
      reject(error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    result.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        end();
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        end();
        reject(err);
      },
    );
  });
}

function visibleTo(action: LocalAction, parent: ParentContext | undefined): boolean {
  return action.visibility !== "private" || parent?.service === action.service;
}

/** Turns a handler's return value (value, promise or sync throw already caught) into a promise. */
function settle(value: unknown): Promise<unknown> {
  return value instanceof Promise ? value : Promise.resolve(value);
}
