/**
 * Where a cacher keeps its entries: JSON texts by key, with a TTL. Small on purpose: the cache
 * engine (keys, the lock of concurrent misses, counts, clean by pattern) is one piece over it,
 * whatever the store. Memory answers `get` synchronously, so a hit in memory stays synchronous.
 */
export interface CacheStore {
  /** `memory`, `redis`: shown in `health().cache.cacher`. */
  readonly kind: string;
  /** Whether it answers now (false during a Redis outage: calls then run their handlers). */
  readonly connected: boolean;
  /** Entries held, when known without asking a server. */
  readonly entries: number | undefined;
  /** The text under `key`, or undefined (also when the store cannot answer). */
  get(key: string): string | undefined | Promise<string | undefined>;
  /** Keeps `text` under `key` for `ttl` ms (0: no expiry). Never throws: a lost write is a miss later. */
  set(key: string, text: string, ttl: number): void | Promise<void>;
  /** Removes the entries of actions `matches` accepts (`glob` narrows a server-side scan); resolves to how many. */
  clean(matches: (action: string) => boolean, glob: string): Promise<number>;
  /**
   * Across nodes (Redis): before running a missing key's handler, take its lock, or wait for the
   * node holding it. Stores without one leave it out: the per-node lock is then the only one.
   */
  claim?(key: string): Promise<Claim>;
  /** Connects (at broker start). Resolves even when the server is down: the cache then waits for it. */
  open?(): Promise<void>;
  /** Disconnects (at broker stop). */
  close?(): Promise<void>;
}

/**
 * The outcome of {@link CacheStore.claim}: another node stored the value while this one waited;
 * or this node holds the lock (release it once the value is stored or the handler failed); or
 * nobody holds it any more and the handler should just run (an outage, a holder that failed).
 */
export type Claim =
  | { readonly kind: "value"; readonly text: string }
  | { readonly kind: "owner"; release(): Promise<void> }
  | { readonly kind: "free" };

/** Nobody holds the lock: run the handler. */
export const FREE: Claim = { kind: "free" };
