import type { Middleware } from "../middleware/hooks.js";
import type { Service } from "../service/service.js";

/** The running handlers of one service, and who waits for them to end. */
class Counter {
  running = 0;
  readonly waiters = new Set<() => void>();
  /** Bound once: the reaction every counted promise gets. */
  readonly done = (): void => {
    if (--this.running > 0) return;
    for (const wake of [...this.waiters]) wake();
  };
}

/**
 * Counts the calls and event handlers of each local service that are running now, so one
 * service can be drained (`broker.destroyService`, `replaceService`) while the node's other
 * services keep working. A middleware: it sees every handler a call or an event runs, local or
 * from another node. Handlers that answer synchronously are never counted. Each wrapper holds
 * its service's counter, so a call costs an increment and one promise reaction.
 */
export class ServiceActivity {
  readonly #counters = new WeakMap<Service, Counter>();

  /** The middleware that counts; added to the broker once. */
  readonly middleware: Middleware = {
    name: "service-activity",
    localAction: (next, action) => this.#wrap(next, action.service),
    localEvent: (next, listener) => this.#wrap(next, listener.service),
  };

  /** Handlers of `service` running now. */
  running(service: Service): number {
    return this.#counters.get(service)?.running ?? 0;
  }

  /** Resolves once no handler of `service` runs, or after `timeout` ms; says which. */
  idle(service: Service, timeout: number): Promise<boolean> {
    const counter = this.#counters.get(service);
    if (counter === undefined || counter.running === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        counter.waiters.delete(done);
        resolve(true);
      };
      const timer = setTimeout(() => {
        counter.waiters.delete(done);
        resolve(false);
      }, timeout);
      counter.waiters.add(done);
    });
  }

  #wrap<H extends (ctx: never) => unknown>(next: H, service: Service): H {
    let counter = this.#counters.get(service);
    if (counter === undefined) {
      counter = new Counter();
      this.#counters.set(service, counter);
    }
    const c = counter;
    return ((ctx) => {
      const result = next(ctx);
      if (!(result instanceof Promise)) return result;
      c.running++;
      // The caller gets the handler's own promise; the count follows it on the side.
      result.then(c.done, c.done);
      return result;
    }) as H;
  }
}

const byBroker = new WeakMap<object, ServiceActivity>();

/**
 * The activity counter of a broker (one per broker; the broker adds its middleware when it is
 * constructed, so every call is counted from the first one).
 */
export function serviceActivity(broker: object): ServiceActivity {
  let activity = byBroker.get(broker);
  if (activity === undefined) {
    activity = new ServiceActivity();
    byBroker.set(broker, activity);
  }
  return activity;
}
