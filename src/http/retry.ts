/** Methods that may be sent twice without changing the outcome (RFC 9110, section 9.2.2). */
export const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** Statuses that say "try again": the upstream (or a proxy before it) is overloaded or away. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * The delay before retry number `attempt + 1`: exponential with full jitter (a random delay
 * between 0 and `base * 2^attempt`, capped), so that clients failing together do not retry
 * together.
 *
 * @example
 * ```ts
 * backoff(0, 100, 2000); // 0..100 ms
 * backoff(3, 100, 2000); // 0..800 ms
 * ```
 */
export function backoff(attempt: number, base: number, max: number): number {
  return Math.round(Math.random() * Math.min(max, base * 2 ** attempt));
}

/**
 * A `Retry-After` header in ms (delta-seconds or an HTTP date), or `undefined` when absent or
 * unreadable.
 *
 * @example
 * ```ts
 * retryAfter("2"); // 2000
 * ```
 */
export function retryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
