import {
  type FlotillaError,
  RequestTimeoutError,
  ServiceNotAvailableError,
} from "../errors/index.js";

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | undefined;
  nodeID: string;
  action: string;
  observer: SettleObserver | undefined;
}

/** Told how each request ended (the circuit breakers listen), without a promise per request. */
export type SettleObserver = (nodeID: string, action: string, error: unknown) => void;

/**
 * Requests sent and not yet answered. Each ends exactly once: by its response, its timeout, or
 * the loss of the node it went to, so no caller waits past its deadline.
 */
export class PendingRequests {
  readonly #byID = new Map<string, Pending>();

  get size(): number {
    return this.#byID.size;
  }

  /** Registers a request and returns the promise its caller awaits. */
  add(
    id: string,
    nodeID: string,
    action: string,
    timeout: number,
    observer?: SettleObserver,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer =
        timeout > 0
          ? setTimeout(
              () => this.reject(id, new RequestTimeoutError(action, timeout, { nodeID })),
              timeout,
            )
          : undefined;
      this.#byID.set(id, { resolve, reject, timer, nodeID, action, observer });
    });
  }

  resolve(id: string, value: unknown): boolean {
    const entry = this.#take(id);
    if (entry === undefined) return false;
    entry.observer?.(entry.nodeID, entry.action, undefined);
    entry.resolve(value);
    return true;
  }

  reject(id: string, err: unknown): boolean {
    const entry = this.#take(id);
    if (entry === undefined) return false;
    entry.observer?.(entry.nodeID, entry.action, err);
    entry.reject(err);
    return true;
  }

  /** Fails every request sent to `nodeID` at once, with a retryable error. */
  rejectNode(nodeID: string, reason: string): number {
    let count = 0;
    for (const [id, entry] of this.#byID) {
      if (entry.nodeID !== nodeID) continue;
      this.reject(id, notAvailable(entry, reason));
      count++;
    }
    return count;
  }

  /** Fails every request (the broker is stopping). */
  rejectAll(err: (action: string, nodeID: string) => FlotillaError): void {
    for (const [id, entry] of this.#byID) this.reject(id, err(entry.action, entry.nodeID));
  }

  #take(id: string): Pending | undefined {
    const entry = this.#byID.get(id);
    if (entry === undefined) return undefined;
    this.#byID.delete(id);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    return entry;
  }
}

function notAvailable(entry: Pending, reason: string): ServiceNotAvailableError {
  return new ServiceNotAvailableError(entry.action, {
    nodeID: entry.nodeID,
    data: { action: entry.action, nodeID: entry.nodeID, reason },
  });
}
