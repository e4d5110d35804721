import { LRUCache } from "lru-cache";
import { actionOf } from "./keys.js";
import type { CacheStore } from "./store.js";

/** What the memory store keeps unless told: 10 000 entries, 64 MiB of JSON. */
export const MEMORY_DEFAULTS = { max: 10_000, maxBytes: 64 * 1024 * 1024 } as const;

/**
 * The in-memory store: an LRU (lru-cache) bounded by entries and by bytes of JSON, with a TTL
 * per entry. Per node: another node's store is its own, so clean every node (a broadcast event
 * handler calling `ctx.cache.clean`) or use Redis when instances must agree.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ max: 1000 });
 * store.set("products.get:[1]", '{"id":1}', 30_000);
 * store.get("products.get:[1]"); // '{"id":1}'
 * ```
 */
export class MemoryStore implements CacheStore {
  readonly kind = "memory";
  readonly connected = true;
  readonly #lru: LRUCache<string, string>;

  constructor(options: { max?: number; maxBytes?: number } = {}) {
    this.#lru = new LRUCache<string, string>({
      max: options.max ?? MEMORY_DEFAULTS.max,
      maxSize: options.maxBytes ?? MEMORY_DEFAULTS.maxBytes,
      sizeCalculation: (text) => Math.max(1, Buffer.byteLength(text)),
    });
  }

  get entries(): number {
    return this.#lru.size;
  }

  get(key: string): string | undefined {
    return this.#lru.get(key);
  }

  set(key: string, text: string, ttl: number): void {
    // A value larger than maxBytes is simply not kept (lru-cache refuses it).
    this.#lru.set(key, text, ttl > 0 ? { ttl } : undefined);
  }

  async clean(matches: (action: string) => boolean): Promise<number> {
    let removed = 0;
    for (const key of [...this.#lru.keys()]) {
      if (matches(actionOf(key)) && this.#lru.delete(key)) removed++;
    }
    return removed;
  }
}
