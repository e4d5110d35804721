import type { ServiceBroker } from "../broker/broker.js";
import { WaitTimeoutError } from "../errors/index.js";
import { matchesEvent } from "../registry/patterns.js";
import type { Context } from "../service/types.js";

/** One handled event, as `waitForEvent` reports it. */
export interface HandledEvent<P = unknown> {
  /** The payload as the handler saw it (validated). */
  params: P;
  /** The handler's context. */
  ctx: Context<unknown>;
  /** The service whose handler ran. */
  service: string;
  /** What the handler threw, if it failed. */
  error: unknown;
}

/** Options of `waitForEvent`. */
export interface WaitForEventOptions {
  /** Give up after this many ms with `WaitTimeoutError`. Default 5 000. */
  timeout?: number;
}

/**
 * Resolves when a handler on this broker has finished with an event matching `event` (a name or
 * pattern) and `predicate`: the event waiter of nameko's test tools. Start waiting before you
 * trigger the event.
 *
 * @example
 * ```ts
 * const placed = waitForEvent(broker, "orders.placed", (p) => p.orderId === 7);
 * await broker.call("orders.place", { ... });
 * expect((await placed).service).toBe("email");
 * ```
 */
export function waitForEvent<P = unknown>(
  broker: ServiceBroker,
  event: string,
  predicate: (params: P, ctx: Context<unknown>) => boolean = () => true,
  options: WaitForEventOptions = {},
): Promise<HandledEvent<P>> {
  const timeout = options.timeout ?? 5_000;
  return new Promise((resolve, reject) => {
    const stop = broker.events.observe((ctx, listener, error) => {
      if (!matchesEvent(event, ctx.name) || !predicate(ctx.params as P, ctx)) return;
      stop();
      clearTimeout(timer);
      resolve({ params: ctx.params as P, ctx, service: listener.service.fullName, error });
    });
    const timer = setTimeout(() => {
      stop();
      reject(new WaitTimeoutError(`event '${event}'`, timeout));
    }, timeout);
  });
}
