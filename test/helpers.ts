import type { BrokerOptions, ServiceBroker } from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { afterEach } from "vitest";

/** Brokers made by `testBroker` in the current test; all stopped after it. */
const live: ServiceBroker[] = [];

afterEach(async () => {
  await Promise.all(live.splice(0).map((b) => b.stop()));
});

/** A test broker that is stopped after the test, whatever happens. */
export function testBroker(options: BrokerOptions = {}): ServiceBroker {
  const broker = createTestBroker(options);
  live.push(broker);
  return broker;
}

/** A promise with its resolve function outside, for waiting on a callback. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
