import { RequestTimeoutError } from "../../errors/index.js";
import type { Context } from "../../service/types.js";
import type { Middleware } from "../hooks.js";

/**
 * Races a local handler against what is left of its context's deadline (set by the call's or
 * the action's `timeout`, or inherited from the parent). Handlers of calls without a deadline run
 * untimed, at no cost; calls from other nodes are timed by their callers.
 */
export function timeoutMiddleware(): Middleware {
  return {
    name: "timeout",
    localAction(next, action) {
      return (ctx: Context<unknown>) => {
        // A call from another node is timed by its caller, whose timer ends the wait there; a
        // race here could not stop the handler either, so it would only cost a timer per call.
        if (ctx.deadline === 0 || ctx.callerNodeID !== ctx.broker.nodeID) return next(ctx);
        const left = ctx.deadline - Date.now();
        if (left <= 0) {
          throw new RequestTimeoutError(action.name, 0, {
            data: { action: action.name, reason: "deadline passed" },
          });
        }
        const result = next(ctx);
        return result instanceof Promise ? race(result, left, action.name) : result;
      };
    },
  };
}

function race(result: Promise<unknown>, ms: number, name: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new RequestTimeoutError(name, ms)), ms);
    result.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
