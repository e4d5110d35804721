import { QueueFullError } from "../../errors/index.js";

/** Settings of a bulkhead. */
export interface BulkheadOptions {
  /** Calls that may run at once. Default 10. */
  concurrency?: number;
  /** Calls that may wait for a slot; more are refused with `QueueFullError`. Default 100. */
  queue?: number;
}

/**
 * Limits how many calls of one action run at once and how many may wait. A full queue refuses a
 * call at once with `QueueFullError` (503, retryable), so overload sheds load instead of growing
 * memory.
 *
 * @example
 * ```ts
 * const bulkhead = new Bulkhead("reports.build", { concurrency: 2, queue: 10 });
 * const result = await bulkhead.run(() => buildReport());
 * ```
 */
export class Bulkhead {
  running = 0;
  /** Calls refused with `QueueFullError` since it was made (read by the metrics). */
  shed = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #concurrency: number;
  readonly #queue: number;

  constructor(
    private readonly name: string,
    options: BulkheadOptions = {},
  ) {
    this.#concurrency = options.concurrency ?? 10;
    this.#queue = options.queue ?? 100;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.#waiting.length;
  }

  run<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.running < this.#concurrency) {
      this.running++;
      return this.#exec(task);
    }
    if (this.#waiting.length >= this.#queue) {
      this.shed++;
      return Promise.reject(new QueueFullError(this.name));
    }
    // The slot is handed over by the call that finishes, so nothing can jump the queue.
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(() => this.#exec(task));
  }

  async #exec<T>(task: () => T | Promise<T>): Promise<T> {
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
