/** How long to wait between tries. */
export interface BackoffOptions {
  /** First delay in ms. Default 50. */
  delay?: number;
  /** Longest delay in ms. Default 2 000. */
  maxDelay?: number;
  /** Growth per try. Default 2. */
  factor?: number;
}

/**
 * Exponential backoff with full jitter: a random delay up to `delay * factor^attempt` (capped),
 * so callers that failed together do not retry together.
 *
 * @example
 * ```ts
 * backoffDelay(0); // 0..50 ms
 * backoffDelay(3, { delay: 100 }); // 0..800 ms
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random = Math.random,
): number {
  const { delay = 50, maxDelay = 2_000, factor = 2 } = options;
  const ceiling = Math.min(maxDelay, delay * factor ** attempt);
  return Math.round(random() * ceiling);
}

/** Settings of retries. */
export interface RetryOptions extends BackoffOptions {
  /** Tries after the first. Default 2. */
  retries?: number;
}
