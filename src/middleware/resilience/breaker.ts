/** Settings of a circuit breaker. */
export interface BreakerOptions {
  /** Share of failed calls (0-1) in the window that opens the circuit. Default 0.5. */
  threshold?: number;
  /** Calls the window must hold before the share counts. Default 10. */
  minRequests?: number;
  /** Length of the rolling window in ms. Default 10 000. */
  windowTime?: number;
  /** How long an open circuit waits before letting one probe call through, in ms. Default 5 000. */
  halfOpenAfter?: number;
}

/** `closed`: calls flow; `open`: calls are refused; `half-open`: one probe call may go. */
export type BreakerState = "closed" | "open" | "half-open";

const BUCKETS = 10;

/**
 * One circuit breaker: counts outcomes in a rolling window of buckets; opens when the failure
 * share passes the threshold; after `halfOpenAfter` lets a single probe through, which closes
 * it on success or opens it again on failure.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ threshold: 0.5, minRequests: 4 });
 * if (breaker.allows()) breaker.record(ok);
 * ```
 */
export class CircuitBreaker {
  state: BreakerState = "closed";
  readonly #opts: Required<BreakerOptions>;
  readonly #ok = new Array<number>(BUCKETS).fill(0);
  readonly #failed = new Array<number>(BUCKETS).fill(0);
  #bucket = 0;
  #bucketStart: number;
  #openedAt = 0;
  #probing = false;

  constructor(
    options: BreakerOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.#opts = {
      threshold: options.threshold ?? 0.5,
      minRequests: options.minRequests ?? 10,
      windowTime: options.windowTime ?? 10_000,
      halfOpenAfter: options.halfOpenAfter ?? 5_000,
    };
    this.#bucketStart = now();
  }

  /** Whether a call could go now (without taking the half-open probe). */
  permits(): boolean {
    if (this.state === "closed") return true;
    if (this.state === "open" && this.now() - this.#openedAt >= this.#opts.halfOpenAfter) {
      this.state = "half-open";
      this.#probing = false;
    }
    return this.state === "half-open" && !this.#probing;
  }

  /** A call goes now: in half-open it is the probe, and no other call may go until it ends. */
  claim(): void {
    if (this.state === "half-open") this.#probing = true;
  }

  /** Whether a call may go now; takes the probe in half-open. */
  allows(): boolean {
    const permitted = this.permits();
    if (permitted) this.claim();
    return permitted;
  }

  /** Records a call's outcome; returns the new state if it changed. */
  record(ok: boolean): BreakerState | undefined {
    if (this.state === "half-open") {
      this.#probing = false;
      if (ok) {
        this.#reset();
        this.state = "closed";
      } else {
        this.state = "open";
        this.#openedAt = this.now();
      }
      return this.state;
    }
    if (this.state === "open") return undefined;
    this.#rotate();
    if (ok) this.#ok[this.#bucket]! += 1;
    else this.#failed[this.#bucket]! += 1;
    if (ok) return undefined;
    const failed = sum(this.#failed);
    const total = failed + sum(this.#ok);
    if (total >= this.#opts.minRequests && failed / total >= this.#opts.threshold) {
      this.state = "open";
      this.#openedAt = this.now();
      return this.state;
    }
    return undefined;
  }

  /** Moves the window forward, clearing buckets that fell out of it. */
  #rotate(): void {
    const size = this.#opts.windowTime / BUCKETS;
    const steps = Math.floor((this.now() - this.#bucketStart) / size);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#ok[this.#bucket] = 0;
      this.#failed[this.#bucket] = 0;
    }
    this.#bucketStart += steps * size;
  }

  #reset(): void {
    this.#ok.fill(0);
    this.#failed.fill(0);
    this.#bucketStart = this.now();
  }
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
