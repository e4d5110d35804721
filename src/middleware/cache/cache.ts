import { CacheConfigError } from "../../errors/cache.js";
import type { Logger } from "../../observability/logger.js";
import type { ActionHandler, LocalAction } from "../../registry/local.js";
import type { Context } from "../../service/types.js";
import { parseDuration } from "../../timers/duration.js";
import { decodeValue, encodeValue } from "./codec.js";
import type { Cacher } from "./index.js";
import { actionOf, keyBuilder, patternMatcher, redisGlob } from "./keys.js";
import type { ActionCacheOptions, Cache, CacheCounts, CacheHealth } from "./options.js";

export type { Cache } from "./options.js";

import { type Claim, FREE } from "./store.js";

/** A miss being filled: the callers that missed the same key meanwhile wait for it. */
interface Flight {
  promise: Promise<Filled>;
  /** A clean ran since it started: its result must not be stored. */
  cleaned: boolean;
}

/** A filled miss: the handler's own value, and its JSON (undefined: not cacheable). */
interface Filled {
  readonly value: unknown;
  readonly text: string | undefined;
}

/**
 * The one cache engine, over whichever store: keys, lookups, the lock of concurrent misses
 * (per node here; across nodes through the store's `claim`), storing, cleaning and counting.
 * A handler's error is never stored; it reaches every caller that waited for it.
 */
export class CacheEngine implements Cache {
  readonly #flights = new Map<string, Flight>();
  readonly #counts = new Map<string, CacheCounts>();
  readonly #warned = new Set<string>();
  #cleans = 0;
  #removed = 0;

  constructor(
    private readonly cacher: Cacher | undefined,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.cacher !== undefined;
  }

  /** Wraps the handler of an action that declares `cache`; others are returned as they are. */
  wrap(next: ActionHandler, action: LocalAction): ActionHandler {
    const declared = action.definition.cache;
    const cacher = this.cacher;
    if (cacher === undefined || declared === undefined || declared === false) return next;
    const o: ActionCacheOptions = declared === true ? {} : declared;
    const ttl = o.ttl === undefined ? cacher.ttl : actionTtl(action.name, o.ttl);
    const keyOf = keyBuilder(action.name, checkKeys(action.name, o.keys));
    const lock = o.lock !== false;
    const store = cacher.store;
    const counts = this.#countsOf(action.name);
    return (ctx) => {
      let key: string;
      try {
        key = keyOf(ctx);
      } catch {
        return next(ctx); // params too deep to key: not cached
      }
      const found = store.get(key);
      if (typeof found === "string") {
        counts.hits++;
        return decodeValue(found);
      }
      if (found === undefined) return this.#miss(key, ctx, next, action.name, ttl, lock, counts);
      return found.then((text) => {
        if (text === undefined) return this.#miss(key, ctx, next, action.name, ttl, lock, counts);
        counts.hits++;
        return decodeValue(text);
      });
    };
  }

  async clean(pattern = "**"): Promise<number> {
    if (this.cacher === undefined) return 0;
    const matches = patternMatcher(pattern);
    for (const [key, flight] of this.#flights) {
      if (!matches(actionOf(key))) continue;
      flight.cleaned = true;
      this.#flights.delete(key);
    }
    this.#cleans++;
    const removed = await this.cacher.store.clean(matches, redisGlob(pattern));
    this.#removed += removed;
    return removed;
  }

  /** What `broker.health().cache` shows, or undefined without a cacher. */
  health(): CacheHealth | undefined {
    const store = this.cacher?.store;
    if (store === undefined) return undefined;
    const total: CacheCounts = { hits: 0, misses: 0, sets: 0, uncacheable: 0 };
    const actions: Record<string, CacheCounts> = {};
    for (const [name, c] of this.#counts) {
      actions[name] = { ...c };
      total.hits += c.hits;
      total.misses += c.misses;
      total.sets += c.sets;
      total.uncacheable += c.uncacheable;
    }
    return {
      cacher: store.kind,
      connected: store.connected,
      ...total,
      cleans: this.#cleans,
      removed: this.#removed,
      entries: store.entries,
      actions,
    };
  }

  async open(): Promise<void> {
    await this.cacher?.store.open?.();
  }

  async close(): Promise<void> {
    await this.cacher?.store.close?.();
  }

  #miss(
    key: string,
    ctx: Context<unknown>,
    next: ActionHandler,
    action: string,
    ttl: number,
    lock: boolean,
    counts: CacheCounts,
  ): Promise<unknown> {
    counts.misses++;
    const waiting = lock ? this.#flights.get(key) : undefined;
    if (waiting !== undefined) return waiting.promise.then(copyOf);
    const flight = { cleaned: false } as Flight;
    const filling = this.#fill(flight, key, ctx, next, action, ttl, lock, counts);
    flight.promise = filling;
    if (lock) {
      this.#flights.set(key, flight);
      const done = () => {
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
      };
      filling.then(done, done);
    }
    return filling.then((filled) => filled.value);
  }

  async #fill(
    flight: Flight,
    key: string,
    ctx: Context<unknown>,
    next: ActionHandler,
    action: string,
    ttl: number,
    lock: boolean,
    counts: CacheCounts,
  ): Promise<Filled> {
    const store = this.cacher!.store;
    const claim: Claim = lock && store.claim ? await store.claim(key) : FREE;
    if (claim.kind === "value") return { text: claim.text, value: decodeValue(claim.text) };
    try {
      const value = await next(ctx);
      const text = encodeValue(action, value);
      if (typeof text !== "string") {
        counts.uncacheable++;
        if (!this.#warned.has(action)) {
          this.#warned.add(action);
          this.logger.warn({ err: text, action }, text.message);
        }
        return { value, text: undefined };
      }
      if (!flight.cleaned) {
        await store.set(key, text, ttl);
        counts.sets++;
      }
      return { value, text };
    } finally {
      if (claim.kind === "owner") await claim.release();
    }
  }

  #countsOf(action: string): CacheCounts {
    let counts = this.#counts.get(action);
    if (counts === undefined) {
      counts = { hits: 0, misses: 0, sets: 0, uncacheable: 0 };
      this.#counts.set(action, counts);
    }
    return counts;
  }
}

/** What a caller that waited for another's miss gets: its own copy (or, uncacheable, the value). */
function copyOf(filled: Filled): unknown {
  return filled.text === undefined ? filled.value : decodeValue(filled.text);
}

function actionTtl(action: string, ttl: number | string): number {
  if (ttl === 0) return 0;
  try {
    return parseDuration(ttl);
  } catch (cause) {
    throw new CacheConfigError(
      `cache.ttl of '${action}': ${(cause as Error).message}`,
      "INVALID_CACHE_OPTIONS",
      { cause },
    );
  }
}

function checkKeys(
  action: string,
  keys: readonly string[] | undefined,
): readonly string[] | undefined {
  if (keys === undefined) return undefined;
  for (const key of keys) {
    if (typeof key !== "string" || key === "" || key === "#" || key.split(".").includes("")) {
      throw new CacheConfigError(
        `cache.keys of '${action}': '${String(key)}' is not a field name (use "id", "filter.page" or "#tenant").`,
        "INVALID_CACHE_OPTIONS",
      );
    }
  }
  return keys;
}
