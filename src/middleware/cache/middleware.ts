import { CallContext } from "../../broker/context.js";
import type { Meta, Params } from "../../service/call-types.js";
import type { Middleware } from "../hooks.js";
import type { Cache, CacheEngine } from "./cache.js";

/**
 * Caches the results of actions that declare `cache`, and opens and closes the store with the
 * broker (Redis connects at start; a server that is down then is waited for, calls run their
 * handlers meanwhile). The broker adds it innermost: it sees validated params, and a hit still
 * passes authorization, deadlines and bulkheads; a fallback's value is never cached.
 *
 * @example
 * ```ts
 * pipeline.add(cacheMiddleware(new CacheEngine(resolveCacher("memory", host), logger)));
 * ```
 */
export function cacheMiddleware(engine: CacheEngine): Middleware {
  return {
    name: "cache",
    localAction: (next, action) => engine.wrap(next, action),
    starting: () => engine.open(),
    stopped: () => engine.close(),
  };
}

/** Each broker's cache, for `ctx.cache` (the broker registers its own). */
const caches = new WeakMap<object, Cache>();

/** What `ctx.cache` is on a broker that has no cache registered: caches nothing, cleans nothing. */
const NO_CACHE: Cache = { enabled: false, clean: async () => 0 };

/** Makes `cache` the cache of `broker`'s contexts (`ctx.cache`). */
export function registerCache(broker: object, cache: Cache): void {
  caches.set(broker, cache);
}

/** The cache of a broker (or {@link NO_CACHE}). */
export function cacheOf(broker: object): Cache {
  return caches.get(broker) ?? NO_CACHE;
}

declare module "../../broker/context.js" {
  interface CallContext<P = Params, M extends Meta = Meta> {
    /** The node's cache: `ctx.cache.clean("products.*")` from a handler. */
    readonly cache: Cache;
  }
}

// `ctx.cache`, on the prototype (as `ctx.db`): contexts pay nothing until a handler reads it.
Object.defineProperty(CallContext.prototype, "cache", {
  get(this: CallContext) {
    return cacheOf(this.broker);
  },
  configurable: true,
});
