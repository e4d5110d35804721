import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/** The problems a cache setting can have, found when the broker or a service is created. */
export type CacheConfigCode = "INVALID_CACHER" | "INVALID_CACHE_OPTIONS";

/**
 * A cache setting that cannot work: the broker's `cacher` (`INVALID_CACHER`: an unknown kind,
 * a bad URL or limit) or an action's `cache` (`INVALID_CACHE_OPTIONS`: a bad `ttl` or key).
 *
 * @example
 * ```ts
 * new ServiceBroker({ cacher: "memcached://x" }); // throws CacheConfigError (INVALID_CACHER)
 * ```
 */
export class CacheConfigError extends FlotillaError {
  constructor(message: string, code: CacheConfigCode, options: FlotillaErrorOptions = {}) {
    super(message, code, 500, options);
  }
}

/**
 * An action's result cannot be kept in the cache: JSON cannot carry it as it is (a `Map`, a
 * `Set`, a function, a `BigInt`, a cycle). The call still answers with the handler's value; the
 * cache only logs this error (once per action) and counts the result as `uncacheable`.
 */
export class CacheValueError extends FlotillaError {
  constructor(action: string, reason: string, options: FlotillaErrorOptions = {}) {
    super(
      `The result of '${action}' is not cached: ${reason}. Return plain JSON data (objects, arrays, strings, numbers, booleans, null; a Date becomes its ISO string) to cache it.`,
      "CACHE_VALUE_NOT_SERIALIZABLE",
      500,
      { ...options, data: options.data ?? { action, reason } },
    );
  }
}
