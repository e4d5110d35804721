import type { ServiceBroker } from "../broker/broker.js";
import { loadService } from "../broker/loader.js";
import type { AnyServiceDefinition } from "../service/types.js";

/** Makes the provider emit an event (calls an action, runs a timer's work...). */
export type EventTrigger = (broker: ServiceBroker) => unknown;

/**
 * The payloads of `event` emitted on `broker` while `trigger` runs (and until the first one
 * shows up, at most `timeout` ms after), seen by a listener of its own that is removed after.
 */
export async function capture(
  broker: ServiceBroker,
  event: string,
  trigger: EventTrigger,
  timeout: number,
): Promise<unknown[]> {
  const payloads: unknown[] = [];
  let seen: () => void = () => undefined;
  const first = new Promise<void>((resolve) => {
    seen = resolve;
  });
  const definition = {
    name: "$contract-capture",
    events: {
      [event]: {
        handler: (ctx: { params: unknown }) => {
          payloads.push(ctx.params);
          seen();
        },
      },
    },
  } as unknown as AnyServiceDefinition;
  const { service, listeners } = loadService(definition, broker, broker.logger);
  broker.registry.addService(service, [], listeners);
  let timer: NodeJS.Timeout | undefined;
  try {
    await trigger(broker);
    await Promise.race([
      first,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeout);
      }),
    ]);
    return payloads;
  } finally {
    clearTimeout(timer);
    broker.registry.removeService(service);
  }
}
