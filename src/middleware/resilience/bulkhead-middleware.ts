import type { Middleware } from "../hooks.js";
import { Bulkhead, type BulkheadOptions } from "./bulkhead.js";

/**
 * Gives each action that asks for one (`bulkhead` in its definition, or `defaults` for every
 * action) a {@link Bulkhead}: calls from this node and from others share its slots.
 */
export function bulkheadMiddleware(defaults: BulkheadOptions | undefined): Middleware {
  return {
    name: "bulkhead",
    localAction(next, action) {
      const options = action.definition.bulkhead ?? defaults;
      if (options === undefined || options === false) return next;
      const bulkhead = new Bulkhead(action.name, options);
      return (ctx) => bulkhead.run(() => next(ctx));
    },
  };
}
