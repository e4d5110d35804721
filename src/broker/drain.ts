import type { Logger } from "../observability/logger.js";
import type { Transit } from "../transit/transit.js";
import type { Emitter } from "./emitter.js";

/** What a drain needs of the broker. */
export interface DrainParts {
  transit: Transit | undefined;
  /** Durable events: stop taking messages first. */
  durable: { stop(): Promise<void> } | undefined;
  emitter: Emitter;
  logger: Logger;
  /** Longest wait for in-flight work, in ms. */
  timeout: number;
  heartbeatInterval: number;
}

/**
 * The first half of a graceful stop: stops taking durable messages, tells the cluster this node
 * takes no new work, then waits (up to the timeout) until requests from other nodes and event
 * handlers have finished.
 */
export async function drain({
  transit,
  durable,
  emitter,
  logger,
  timeout,
  heartbeatInterval,
}: DrainParts): Promise<void> {
  await durable?.stop();
  const started = Date.now();
  // Calls sent before the others heard of the leave may still be on their way: give them a
  // moment to arrive before deciding that nothing is in flight.
  const grace = transit === undefined ? 0 : Math.min(200, heartbeatInterval, timeout);
  await transit?.discovery
    .leave()
    .catch((err: unknown) => logger.warn({ err }, "Could not announce leaving"));
  const inFlight = () => (transit?.inFlight ?? 0) + emitter.running;
  while (Date.now() - started < timeout && (inFlight() > 0 || Date.now() - started < grace)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (inFlight() > 0)
    logger.warn(
      { inFlight: inFlight(), drainTimeout: timeout },
      "Drain timeout passed with work still in flight",
    );
}
