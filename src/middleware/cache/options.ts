import type { RedisTransporterOptions } from "../../transporters/redis/options.js";

/**
 * The param fields of `P` a cache key can name: top-level keys and dotted paths into nested
 * objects (`"filter.category"`), three levels deep. Any string when `P` has no known shape.
 */
export type CacheParamPath<P, Depth extends unknown[] = []> = Depth["length"] extends 3
  ? never
  : P extends readonly unknown[]
    ? never
    : P extends object
      ? {
          [K in keyof P & string]:
            | K
            | (NonNullable<P[K]> extends object
                ? `${K}.${CacheParamPath<NonNullable<P[K]>, [...Depth, unknown]>}`
                : never);
        }[keyof P & string]
      : never;

/** A field of a cache key: a param path of `P`, or `#name` for `ctx.meta.name` (`"#user.id"`). */
export type CacheKey<P = Record<string, unknown>> =
  | (string extends keyof P ? string : CacheParamPath<P>)
  | `#${string}`;

/**
 * How one action's results are cached (`cache` in its definition; `cache: true` takes every
 * default). Results are kept per key: the fields `keys` names, else all params.
 *
 * @example
 * ```ts
 * get: {
 *   params: z.object({ id: z.number(), verbose: z.boolean().optional() }),
 *   cache: { ttl: "30s", keys: ["id", "#tenant"] },
 *   handler: (ctx) => load(ctx.params.id),
 * }
 * ```
 */
export interface ActionCacheOptions<P = Record<string, unknown>> {
  /** How long a result stays: ms or `"30s"`, `"5m"`... Default: the cacher's `ttl` (none: until evicted or cleaned). */
  ttl?: number | string;
  /**
   * The fields the key is made of, in this order: params by name or dotted path (typed by the
   * action's `params` schema), meta fields as `#name`. Default: every param (no meta).
   */
  keys?: readonly CacheKey<P>[];
  /**
   * Concurrent misses of one key run the handler once and share its result: per node, and with
   * Redis across nodes (a short lock key; the others wait for the value). Default `true`.
   */
  lock?: boolean;
}

/** Settings of the in-memory cacher (`cacher: { type: "memory", ... }`): an LRU per node. */
export interface MemoryCacherOptions {
  type: "memory";
  /** Most entries kept; the least recently used go first. Default 10 000. */
  max?: number;
  /** Most bytes of cached JSON kept (keys not counted). Default 64 MiB. */
  maxBytes?: number;
  /** TTL of actions that set none: ms or `"5m"`. Default none. */
  ttl?: number | string;
}

/**
 * Settings of the Redis cacher (`cacher: "redis://127.0.0.1:6379?prefix=shop"` or
 * `{ type: "redis", ... }`): one store shared by every node that names the same server and prefix.
 * The connection settings are the redis transporter's (host, port, db, password, tls,
 * sentinel...). The URL takes `prefix`, `ttl`, `lockTtl` and `commandTimeout` as parameters.
 */
export interface RedisCacherOptions extends RedisTransporterOptions {
  type: "redis";
  /** The server as a URL, instead of host/port. */
  url?: string;
  /** Put before every key. Default `flotilla-cache:<namespace>:`. */
  prefix?: string;
  /** TTL of actions that set none: ms or `"5m"`. Default none. */
  ttl?: number | string;
  /** How long a node computing a missing value holds its lock, in ms; others wait up to this. Default 5 000. */
  lockTtl?: number;
  /** A Redis command slower than this (ms) counts as an outage: the call runs the handler. Default 1 000. */
  commandTimeout?: number;
}

/**
 * The broker's `cacher` option: `"memory"` (default), a `redis://` URL, settings, or `false`
 * (nothing is cached, whatever the actions say).
 */
export type CacherOption = false | "memory" | string | MemoryCacherOptions | RedisCacherOptions;

/** Counts of one action's cache since the node started. */
export interface CacheCounts {
  /** Calls answered from the cache. */
  hits: number;
  /** Calls that found nothing and ran the handler (or waited for a node running it). */
  misses: number;
  /** Results stored. */
  sets: number;
  /** Results not stored because JSON cannot carry them (see `CACHE_VALUE_NOT_SERIALIZABLE`). */
  uncacheable: number;
}

/** What `broker.health().cache` reports. */
export interface CacheHealth extends CacheCounts {
  /** `memory` or `redis`. */
  cacher: string;
  /** Whether the store answers: always for memory; for Redis, false during an outage (calls run their handlers). */
  connected: boolean;
  /** `clean()` calls, and the entries they removed. */
  cleans: number;
  removed: number;
  /** Entries held, where the store knows it cheaply (memory). */
  entries: number | undefined;
  /** The counts per cached action of this node. */
  actions: Record<string, CacheCounts>;
}

/**
 * The node's cache as handlers and services reach it (`ctx.cache`, `broker.cache`).
 *
 * @example
 * ```ts
 * events: {
 *   "products.changed": { kind: "broadcast", handler: (ctx) => ctx.cache.clean("products.*") },
 * }
 * ```
 */
export interface Cache {
  /** Whether this node caches results at all (`false` with `cacher: false`). */
  readonly enabled: boolean;
  /**
   * Removes cached results of the actions `pattern` names: `"products.get"`, `"products.*"`
   * (`*`: one name segment), `"products.**"` or `"**"` (everything). Resolves to the number of
   * entries removed. With memory this node's only (clean on every node: a broadcast event);
   * with Redis every node's.
   */
  clean(pattern?: string): Promise<number>;
}
