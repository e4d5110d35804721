import { ValidationError } from "../../errors/index.js";
import type { Fallback, ParentContext } from "../../service/call-types.js";
import type { Middleware } from "../hooks.js";

function answer(
  fallback: Fallback,
  error: unknown,
  ctx?: ParentContext & { readonly params: unknown },
): unknown {
  return typeof fallback === "function" ? fallback(error, ctx) : fallback.value;
}

/**
 * Answers with a fallback instead of failing: per action (`fallback` in its definition: its
 * handler's errors) and per call (`fallback` in the call options: any error of the call,
 * including timeouts and lost nodes). Invalid params are never covered up.
 *
 * @example
 * ```ts
 * await broker.call("recommendations.for", { userId }, { fallback: { value: [] } });
 * ```
 */
export function fallbackMiddleware(): Middleware {
  return {
    name: "fallback",
    localAction(next, action) {
      const fallback = action.definition.fallback;
      if (fallback === undefined) return next;
      return async (ctx) => {
        try {
          return await next(ctx);
        } catch (error) {
          if (error instanceof ValidationError) throw error;
          return answer(fallback, error, ctx);
        }
      };
    },
    call(next) {
      return (name, params, opts) => {
        const fallback = opts?.fallback;
        if (fallback === undefined) return next(name, params, opts);
        return next(name, params, opts).catch((error: unknown) => {
          if (error instanceof ValidationError) throw error;
          return answer(fallback, error);
        });
      };
    },
  };
}
