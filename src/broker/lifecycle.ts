import { ServiceSchemaError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { Service } from "../service/service.js";

/** Where a broker is in its life. */
export type BrokerState = "created" | "starting" | "started" | "stopping" | "stopped";

/** What starting services needs from the broker. */
export interface StartHost {
  waitFor(names: readonly string[], signal: AbortSignal): Promise<void>;
  markAvailable(service: Service, available: boolean): void | Promise<void>;
  /** Opens what a service owns (its database, migrated) before its `started` hook. */
  prepare(service: Service): Promise<void>;
  /** Closes it again, after the `stopped` hook (or a failed start). */
  release(service: Service): Promise<void>;
  logger: Logger;
}

/**
 * Starts services concurrently, each one after its dependencies are available (on this node or
 * elsewhere), and remembers the order they finished in so they stop in reverse. When one fails
 * to start, the waits of the others are cancelled and those already started are stopped again.
 */
export class Lifecycle {
  state: BrokerState = "created";
  #started: Service[] = [];
  readonly #pendingCreated: Promise<void>[] = [];

  /** Remembers an async `created` hook so `start()` can wait for it. */
  trackCreated(result: void | Promise<void>): void {
    if (result instanceof Promise) this.#pendingCreated.push(result);
  }

  async startAll(services: readonly Service[], host: StartHost): Promise<void> {
    checkCycles(services);
    await Promise.all(this.#pendingCreated.splice(0));
    const abort = new AbortController();
    const results = await Promise.allSettled(
      services.map((service) => this.#start(service, host, abort)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) {
      await this.stopAll(host);
      throw failed.reason;
    }
  }

  /**
   * Starts one service on a running node (a replaced one): when it fails, it is released and
   * the error thrown, and the node's other services are left running.
   */
  async startOne(service: Service, host: StartHost): Promise<void> {
    await this.#start(service, host, new AbortController());
  }

  /** Stops one started service (its `stopped` hook, then what it owns); the others keep running. */
  async stopOne(service: Service, host: StartHost): Promise<void> {
    const at = this.#started.indexOf(service);
    if (at === -1) return;
    this.#started.splice(at, 1);
    await this.#stop(service, host);
  }

  async #start(service: Service, host: StartHost, abort: AbortController): Promise<void> {
    let started = false;
    try {
      await host.prepare(service);
      await host.waitFor(service.dependencies, abort.signal);
      await service.definition.started?.(service);
      started = true;
      this.#started.push(service);
      await host.markAvailable(service, true);
    } catch (err) {
      abort.abort(err);
      if (!started) await host.release(service);
      throw err;
    }
  }

  /** Stops started services in reverse start order; logs (and keeps going past) failures. */
  async stopAll(host: StartHost): Promise<void> {
    const order = this.#started.splice(0).reverse();
    for (const service of order) await this.#stop(service, host);
  }

  async #stop(service: Service, host: StartHost): Promise<void> {
    await host.markAvailable(service, false);
    try {
      await service.definition.stopped?.(service);
    } catch (err) {
      host.logger.error(
        { err, service: service.fullName },
        `Service '${service.fullName}' failed to stop`,
      );
    }
    await host.release(service);
  }
}

/** Rejects dependency cycles among the services of one node before anything waits forever. */
function checkCycles(services: readonly Service[]): void {
  const byName = new Map(services.map((s) => [s.fullName, s]));
  const done = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (done.has(name)) return;
    const at = path.indexOf(name);
    if (at !== -1) {
      const cycle = [...path.slice(at), name].join(" -> ");
      throw new ServiceSchemaError(`Services depend on each other in a cycle: ${cycle}.`);
    }
    const service = byName.get(name);
    if (service === undefined) return;
    for (const dep of service.dependencies) visit(dep, [...path, name]);
    done.add(name);
  };
  for (const service of services) visit(service.fullName, []);
}
