// The action cache: a middleware (middleware.ts) over one engine (cache.ts) over a store.
//   options.ts  the `cache` option of actions, the broker's `cacher`, health counts
//   keys.ts     keys from chosen params/meta fields; clean patterns
//   codec.ts    values as JSON text; what JSON cannot carry is refused, not cached wrong
//   store.ts    the store interface; memory.ts (lru-cache), redis.ts (ioredis, shared)
// This file resolves the `cacher` option to a store.
import { CacheConfigError } from "../../errors/cache.js";
import type { Logger } from "../../observability/logger.js";
import { parseDuration } from "../../timers/duration.js";
import { parseRedisUrl } from "../../transporters/redis/options.js";
import { MemoryStore } from "./memory.js";
import type { CacherOption, MemoryCacherOptions, RedisCacherOptions } from "./options.js";
import { RedisStore } from "./redis.js";
import type { CacheStore } from "./store.js";

/** A resolved `cacher`: its store and the TTL of actions that set none (0: none). */
export interface Cacher {
  readonly store: CacheStore;
  readonly ttl: number;
}

/** Who the cacher belongs to. */
export interface CacherHost {
  readonly nodeID: string;
  readonly namespace: string;
  readonly logger: Logger;
}

const REDIS_PARAMS = ["prefix", "ttl", "lockTtl", "commandTimeout"] as const;

/**
 * The store a `cacher` option names, or undefined for `false`. Throws `INVALID_CACHER` for an
 * unknown kind, a bad URL or a bad limit. Nothing connects yet (Redis connects at start).
 *
 * @example
 * ```ts
 * resolveCacher("redis://127.0.0.1:6379?prefix=shop:", host); // { store: RedisStore, ttl: 0 }
 * resolveCacher(undefined, host); // { store: MemoryStore, ttl: 0 }
 * ```
 */
export function resolveCacher(
  option: CacherOption | undefined,
  host: CacherHost,
): Cacher | undefined {
  if (option === false) return undefined;
  if (option === undefined || option === "memory") return memory({ type: "memory" });
  if (typeof option === "string") return redis(redisOptionsFromUrl(option), host);
  if (option.type === "memory") return memory(option);
  if (option.type === "redis") {
    const fromUrl = option.url === undefined ? {} : redisOptionsFromUrl(option.url);
    return redis({ ...fromUrl, ...option, type: "redis" }, host);
  }
  throw invalid(
    `Unknown cacher type '${(option as { type?: unknown }).type}': "memory" or "redis".`,
  );
}

function memory(o: MemoryCacherOptions): Cacher {
  for (const name of ["max", "maxBytes"] as const) {
    const n = o[name];
    if (n !== undefined && !(Number.isInteger(n) && n > 0)) {
      throw invalid(`cacher.${name} must be a positive integer, got ${n}.`);
    }
  }
  return { store: new MemoryStore(o), ttl: ttlOf(o.ttl) };
}

function redis(o: RedisCacherOptions, host: CacherHost): Cacher {
  const store = new RedisStore(
    {
      connection: o,
      prefix: o.prefix ?? `flotilla-cache:${host.namespace}:`,
      lockTtl: positive(o.lockTtl, 5_000, "lockTtl"),
      commandTimeout: positive(o.commandTimeout, 1_000, "commandTimeout"),
      nodeID: host.nodeID,
      namespace: host.namespace,
    },
    host.logger.child({ cacher: "redis" }),
  );
  return { store, ttl: ttlOf(o.ttl) };
}

/** `redis://…?prefix=…&ttl=…` as settings: the cache's parameters, then the transporter's. */
function redisOptionsFromUrl(text: string): RedisCacherOptions {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`cacher '${text}' is neither "memory" nor a redis:// URL.`);
  }
  if (!/^rediss?(\+sentinel)?:$/.test(url.protocol)) {
    throw invalid(`Unknown cacher '${url.protocol}//': "memory" or a redis:// URL.`);
  }
  const own: Record<string, string> = {};
  for (const name of REDIS_PARAMS) {
    const value = url.searchParams.get(name);
    if (value === null) continue;
    own[name] = value;
    url.searchParams.delete(name);
  }
  let connection: RedisCacherOptions;
  try {
    connection = { ...parseRedisUrl(url), type: "redis" };
  } catch (cause) {
    throw invalid(`cacher '${text}': ${(cause as Error).message}`, cause);
  }
  if (own.prefix !== undefined) connection.prefix = own.prefix;
  if (own.ttl !== undefined) connection.ttl = /^\d+$/.test(own.ttl) ? Number(own.ttl) : own.ttl;
  for (const name of ["lockTtl", "commandTimeout"] as const) {
    if (own[name] !== undefined) connection[name] = Number(own[name]);
  }
  return connection;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw invalid(`cacher.${name} must be a positive number of ms, got ${value}.`);
  }
  return value;
}

/** A TTL setting in ms (0: none); throws `INVALID_CACHER` for a bad one. */
function ttlOf(ttl: number | string | undefined): number {
  if (ttl === undefined || ttl === 0) return 0;
  try {
    return parseDuration(ttl);
  } catch (cause) {
    throw invalid(`cacher.ttl: ${(cause as Error).message}`, cause);
  }
}

function invalid(message: string, cause?: unknown): CacheConfigError {
  return new CacheConfigError(message, "INVALID_CACHER", { cause });
}
