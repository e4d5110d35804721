import type { Logger } from "./logger.js";

/** Settings of a {@link LogLimiter}. */
export interface LogLimiterOptions {
  /** One line per key per this many ms. Default 60 000. */
  interval?: number;
  /** Lines in all per interval, whatever the keys; past it, lines are only counted. Default 100. */
  maxLines?: number;
  /** Keys remembered; the least recently logged is forgotten first. Default 1 000. */
  maxKeys?: number;
  /** The clock, for tests. */
  now?: () => number;
}

/**
 * Warnings about what strangers send, at a bounded rate: one line per key (a peer and a kind of
 * problem) per interval, and no more than `maxLines` per interval in all. What is held back is
 * counted, and the next line of that key says how many (`suppressed`), so a flood of bad input
 * costs a few log lines, not one each.
 *
 * @example
 * ```ts
 * const limiter = new LogLimiter(logger, { interval: 60_000 });
 * limiter.warn(`bad:${peer}:fields`, { peer }, "Dropped a malformed packet");
 * ```
 */
export class LogLimiter {
  readonly #logger: Logger;
  readonly #interval: number;
  readonly #maxLines: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { at: number; suppressed: number }>();
  #windowStart = Number.NEGATIVE_INFINITY;
  #linesInWindow = 0;
  /** Lines held back by the overall budget, reported on the next line logged. */
  #overBudget = 0;

  constructor(logger: Logger, options: LogLimiterOptions = {}) {
    this.#logger = logger;
    this.#interval = options.interval ?? 60_000;
    this.#maxLines = options.maxLines ?? 100;
    this.#maxKeys = options.maxKeys ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Logs `message` at warn level unless `key` was logged within the interval. Returns whether it did. */
  warn(key: string, fields: Record<string, unknown>, message: string): boolean {
    return this.#log("warn", key, fields, message);
  }

  /** As {@link warn}, at error level. */
  error(key: string, fields: Record<string, unknown>, message: string): boolean {
    return this.#log("error", key, fields, message);
  }

  #log(
    level: "warn" | "error",
    key: string,
    fields: Record<string, unknown>,
    message: string,
  ): boolean {
    const now = this.#now();
    const entry = this.#keys.get(key);
    if (entry !== undefined && now - entry.at < this.#interval) {
      entry.suppressed++;
      return false;
    }
    if (now - this.#windowStart >= this.#interval) {
      this.#windowStart = now;
      this.#linesInWindow = 0;
    }
    if (this.#linesInWindow >= this.#maxLines) {
      this.#overBudget++;
      return false;
    }
    this.#linesInWindow++;
    this.#keys.delete(key);
    if (this.#keys.size >= this.#maxKeys) {
      const oldest = this.#keys.keys().next();
      if (oldest.done !== true) this.#keys.delete(oldest.value);
    }
    this.#keys.set(key, { at: now, suppressed: 0 });
    const extra: Record<string, number> = {};
    if (entry !== undefined && entry.suppressed > 0) extra.suppressed = entry.suppressed;
    if (this.#overBudget > 0) extra.suppressedOther = this.#overBudget;
    this.#overBudget = 0;
    this.#logger[level]({ ...fields, ...extra }, message);
    return true;
  }
}
