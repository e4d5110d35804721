import type { Pipeline } from "../middleware/pipeline.js";
import type { Transit } from "../transit/transit.js";
import type { Emitter } from "./emitter.js";
import type { Invoker } from "./invoker.js";

/** The parts of a broker that the test kit and transit reach; not part of the public API. */
export interface BrokerInternals {
  pipeline: Pipeline;
  invoker: Invoker;
  emitter: Emitter;
  /** Re-applies middlewares to every registered handler. */
  rewire(): void;
  /** The wire side, while connected. */
  transit(): Transit | undefined;
  /** Ends the node as a crash would: no goodbye, no stop hooks. */
  crash(): Promise<void>;
}

const internals = new WeakMap<object, BrokerInternals>();

export function setInternals(broker: object, parts: BrokerInternals): void {
  internals.set(broker, parts);
}

export function getInternals(broker: object): BrokerInternals {
  const parts = internals.get(broker);
  if (parts === undefined) throw new TypeError("Not a ServiceBroker.");
  return parts;
}
