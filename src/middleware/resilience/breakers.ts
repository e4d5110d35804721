import { FlotillaError } from "../../errors/index.js";
import { type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.js";

/** Told when an endpoint's circuit changes state. */
export type BreakerListener = (state: BreakerState, nodeID: string, action: string) => void;

/**
 * One circuit breaker per endpoint (node + action), made on first use. Routing asks it which
 * endpoints may take a call; an open breaker takes its endpoint out of balancing until a probe
 * succeeds. Only failures that say something about the endpoint count: timeouts, lost nodes,
 * 5xx errors; a caller's mistake (4xx) counts as a success.
 */
export class BreakerBoard {
  readonly #breakers = new Map<string, CircuitBreaker>();
  /** How many breakers are not closed: lets routing skip all work while everything is healthy. */
  #troubled = 0;

  constructor(
    private readonly options: BreakerOptions,
    private readonly onChange: BreakerListener,
  ) {}

  /** Whether any breaker is open or half-open. */
  get troubled(): boolean {
    return this.#troubled > 0;
  }

  /** Whether the endpoint could take a call now (without taking a half-open probe). */
  permits(nodeID: string, action: string): boolean {
    const breaker = this.#breakers.get(`${nodeID}\0${action}`);
    if (breaker === undefined) return true;
    const before = breaker.state;
    const permitted = breaker.permits();
    if (breaker.state !== before) this.onChange(breaker.state, nodeID, action);
    return permitted;
  }

  /** The call goes to this endpoint (a half-open one: as its probe). */
  claim(nodeID: string, action: string): void {
    this.#breakers.get(`${nodeID}\0${action}`)?.claim();
  }

  /** Records how a call to the endpoint ended. */
  record(nodeID: string, action: string, error: unknown): void {
    // The common case, a success while nothing ever failed, costs no lookup.
    if (error === undefined && this.#breakers.size === 0) return;
    const key = `${nodeID}\0${action}`;
    let breaker = this.#breakers.get(key);
    const ok = !countsAsFailure(error);
    if (breaker === undefined) {
      if (ok) return; // healthy endpoints cost nothing until they first fail
      breaker = new CircuitBreaker(this.options);
      this.#breakers.set(key, breaker);
    }
    const before = breaker.state;
    const after = breaker.record(ok);
    if (after === undefined || after === before) return;
    if (before === "closed") this.#troubled++;
    if (after === "closed") this.#troubled--;
    this.onChange(after, nodeID, action);
  }

  /**
   * Every breaker and its state, for the metrics: endpoints that never failed have none (they
   * are closed). An open breaker reads `open` until a call asks for it after `halfOpenAfter`.
   */
  *states(): IterableIterator<{ nodeID: string; action: string; state: BreakerState }> {
    for (const [key, breaker] of this.#breakers) {
      const cut = key.indexOf("\0");
      yield { nodeID: key.slice(0, cut), action: key.slice(cut + 1), state: breaker.state };
    }
  }

  /** Forgets a node's breakers (it left the cluster). */
  forgetNode(nodeID: string): void {
    for (const [key, breaker] of this.#breakers) {
      if (!key.startsWith(`${nodeID}\0`)) continue;
      if (breaker.state !== "closed") this.#troubled--;
      this.#breakers.delete(key);
    }
  }
}

function countsAsFailure(error: unknown): boolean {
  if (error === undefined) return false;
  return !(error instanceof FlotillaError) || error.status >= 500;
}
