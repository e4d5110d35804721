import { ServiceBroker } from "../broker/broker.js";
import type { BrokerOptions } from "../broker/options.js";

let counter = 0;

/**
 * A broker set up for tests: silent logger, a unique node ID, services' databases in memory
 * (a fresh SQLite database per service and broker, unless `database` or a URL in the environment
 * or the declaration says otherwise), and otherwise the defaults.
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
  return new ServiceBroker({
    logger: false,
    nodeID: `test-${process.pid}-${counter}`,
    database: { url: "sqlite::memory:" },
    ...options,
  });
}
