import { ServiceBroker } from "../broker/broker.js";
import type { BrokerOptions } from "../broker/options.js";

let counter = 0;

/**
 * A broker set up for tests: silent logger, a unique node ID, and otherwise the defaults.
 *
 * @example
 * ```ts
 * const broker = createTestBroker();
 * broker.createService(users);
 * await broker.start();
 * ```
 */
export function createTestBroker(options: BrokerOptions = {}): ServiceBroker {
  counter += 1;
  return new ServiceBroker({ logger: false, nodeID: `test-${process.pid}-${counter}`, ...options });
}
