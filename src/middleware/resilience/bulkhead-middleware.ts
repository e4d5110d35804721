import type { LocalAction } from "../../registry/local.js";
import type { Middleware } from "../hooks.js";
import { Bulkhead, type BulkheadOptions } from "./bulkhead.js";

/** The bulkhead of each action that has one, with the settings it was made with. */
const bulkheads = new WeakMap<LocalAction, { bulkhead: Bulkhead; options: BulkheadOptions }>();

/**
 * Gives each action that asks for one (`bulkhead` in its definition, or `defaults` for every
 * action) a {@link Bulkhead}: calls from this node and from others share its slots. Wrapping the
 * action again (a middleware added, the broker restarted) keeps its bulkhead, so calls running
 * then still hold their slots.
 */
export function bulkheadMiddleware(defaults: BulkheadOptions | undefined): Middleware {
  return {
    name: "bulkhead",
    localAction(next, action) {
      const options = action.definition.bulkhead ?? defaults;
      if (options === undefined || options === false) return next;
      const held = bulkheads.get(action);
      const bulkhead =
        held?.options === options ? held.bulkhead : new Bulkhead(action.name, options);
      bulkheads.set(action, { bulkhead, options });
      return (ctx) => bulkhead.run(() => next(ctx));
    },
  };
}

/**
 * The bulkhead of a local action, if it has one: its queue and the calls it refused, for the
 * metrics.
 *
 * @example
 * ```ts
 * const queued = bulkheadOf(action)?.queued ?? 0;
 * ```
 */
export function bulkheadOf(action: LocalAction): Bulkhead | undefined {
  return bulkheads.get(action)?.bulkhead;
}
