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
import { CallContext, type CancelHook, cancelHookOf } from "./context.js";
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
    const signal = opts?.signal;
    if (signal?.aborted) throw CallAbortedError.of(action.name, signal);
    const hook = cancelHookOf(opts);
    if (hook !== undefined) hookUp(hook, ctx);
    // A nested call follows its parent's cancellation until it ends.
    const chained = parent !== undefined && CallContext.chain(ctx);
    const result = settle(action.handler(ctx));
    // Without a deadline, a caller's signal or a parent there is nothing to clear or race.
    if (ctx.deadline === 0 && signal === undefined && !chained) return result;
    return watch(ctx, result, action.name, signal);
  }
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

/** Lets the caller's hook cancel `ctx` (a function of its own: a closure over `ctx` in `local`
 * would put `ctx` in a heap context on every call). */
function hookUp(hook: CancelHook, ctx: CallContext<unknown>): void {
  hook.cancel = (reason) => CallContext.cancel(ctx, reason);
}

function visibleTo(action: LocalAction, parent: ParentContext | undefined): boolean {
  return action.visibility !== "private" || parent?.service === action.service;
}

/** Turns a handler's return value (value, promise or sync throw already caught) into a promise. */
function settle(value: unknown): Promise<unknown> {
  return value instanceof Promise ? value : Promise.resolve(value);
}
