import type { AnyServiceDefinition, BrokerOptions, ServiceBroker } from "flotilla";
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

/**
 * A started test broker with `services` created on it, stopped after the test. Define each
 * service with `defineService` where it is passed, so its handlers keep their inferred types.
 *
 * @example
 * ```ts
 * const broker = await startBroker(
 *   defineService({ name: "math", actions: { add: { handler: (ctx) => ctx.params.a + 1 } } }),
 * );
 * await expect(broker.call("math.add", { a: 1 })).resolves.toBe(2);
 * ```
 */
export async function startBroker(
  services: AnyServiceDefinition | readonly AnyServiceDefinition[],
  options: BrokerOptions = {},
): Promise<ServiceBroker> {
  const broker = testBroker(options);
  for (const service of [services].flat()) broker.createService(service);
  await broker.start();
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
