import {
  type BrokerOptions,
  type Context,
  defineService,
  ServiceBroker,
  type ServiceDefinition,
} from "flotilla";
import { afterEach } from "vitest";

/** Handled events, per handler tag. */
export type Log = {
  tag: string;
  id: string | undefined;
  attempt: number | undefined;
  params: unknown;
}[];

/** Makes brokers for one test file; `live` lists those of the current test. */
export type DurableNodes = ((
  namespace: string,
  services?: ServiceDefinition[],
  options?: BrokerOptions,
) => ServiceBroker) & { readonly live: readonly ServiceBroker[] };

/**
 * Brokers on one transporter URL for the durable-event tests of a file: `node(ns, services)`
 * makes one (with its services created), `node.live` lists those of the current test, and every
 * broker is stopped after each test.
 */
export function durableNodes(transporter: string): DurableNodes {
  const live: ServiceBroker[] = [];
  let seq = 0;
  afterEach(async () => {
    await Promise.allSettled(live.splice(0).map((b) => b.stop()));
  });
  const node = (
    namespace: string,
    services: ServiceDefinition[] = [],
    options: BrokerOptions = {},
  ) => {
    const broker = new ServiceBroker({
      nodeID: `n${++seq}-${process.pid}`,
      namespace,
      logger: false,
      transporter,
      ...options,
    });
    for (const s of services) broker.createService(s);
    live.push(broker);
    return broker;
  };
  return Object.assign(node, { live });
}

/** A service with one durable handler that records each delivery (tag, ID, attempt, params). */
export function recorder(name: string, event: string, log: Log, tag = name, extra = {}) {
  return defineService({
    name,
    events: {
      [event]: {
        durable: true,
        ...extra,
        handler(ctx: Context<unknown>) {
          log.push({ tag, id: ctx.messageID, attempt: ctx.attempt, params: ctx.params });
        },
      },
    },
  });
}
