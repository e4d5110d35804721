import type { ServiceBroker } from "../broker/broker.js";
import { getInternals } from "../broker/internals.js";

/**
 * Ends a node as a crash (kill -9) would: it sends no goodbye, runs no stop hooks, and drops its
 * connections. The other nodes must notice by themselves: pending calls to it fail with a
 * retryable error, and it leaves their registries.
 *
 * @example
 * ```ts
 * await crashNode(worker);
 * await expect(pendingCall).rejects.toMatchObject({ retryable: true });
 * ```
 */
export function crashNode(broker: ServiceBroker): Promise<void> {
  return getInternals(broker).crash();
}
