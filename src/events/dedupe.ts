import type { Context } from "../service/types.js";

/** Where handled message IDs are remembered; the data layer can keep them with its writes. */
export interface ProcessedStore {
  has(id: string): boolean | Promise<boolean>;
  add(id: string): void | Promise<void>;
}

/** Remembers the last `max` IDs in memory (insertion order). */
export function memoryProcessedStore(max = 10_000): ProcessedStore {
  const ids = new Set<string>();
  return {
    has: (id) => ids.has(id),
    add: (id) => {
      ids.add(id);
      if (ids.size > max) ids.delete(ids.values().next().value as string);
    },
  };
}

/**
 * Makes a durable handler idempotent: `once(ctx, work)` runs `work` unless a delivery with the
 * same message ID already succeeded, and records the ID only after `work` succeeds (so a failed
 * attempt is retried, a redelivered success is not redone).
 *
 * @example
 * ```ts
 * const dedupe = createDeduplicator();
 * events: { "orders.placed": { durable: true, handler: (ctx) => dedupe.once(ctx, () => sendMail(ctx.params)) } }
 * ```
 */
export function createDeduplicator(store: ProcessedStore = memoryProcessedStore()) {
  return {
    async once<T>(
      ctx: Pick<Context<unknown>, "messageID">,
      work: () => T | Promise<T>,
    ): Promise<T | undefined> {
      const id = ctx.messageID;
      if (id !== undefined && (await store.has(id))) return undefined;
      const result = await work();
      if (id !== undefined) await store.add(id);
      return result;
    },
  };
}
