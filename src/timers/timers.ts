import { CallContext } from "../broker/context.js";
import { ServiceSchemaError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../registry/registry.js";
import type { ContextHost, Params } from "../service/call-types.js";
import type { Service } from "../service/service.js";
import type { TimerDefinition } from "../service/types.js";
import { parseCron } from "./cron.js";
import { parseDuration } from "./duration.js";

export type { TimerDefinition } from "../service/types.js";

interface Running {
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
  stopped: boolean;
}

/** Checks timer definitions at `createService`, so a bad schedule fails early. */
export function checkTimers(
  service: string,
  timers: Record<string, TimerDefinition> | undefined,
): void {
  for (const [name, def] of Object.entries(timers ?? {})) {
    if (typeof def?.handler !== "function")
      throw new ServiceSchemaError(`Timer '${service}.${name}' needs a handler.`);
    if ((def.every === undefined) === (def.cron === undefined)) {
      throw new ServiceSchemaError(`Timer '${service}.${name}' needs either 'every' or 'cron'.`);
    }
    if (def.every !== undefined) parseDuration(def.every);
    if (def.cron !== undefined) parseCron(def.cron);
  }
}

/**
 * Runs services' timers while they are started. A run that is still busy is not overlapped (the
 * tick is skipped). A singleton timer runs only on the instance whose node ID sorts first among
 * the nodes offering the service, so the choice moves by itself when that instance leaves.
 */
export class TimerRunner {
  readonly #running = new Map<Service, Running[]>();

  constructor(
    private readonly host: ContextHost,
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  start(service: Service): void {
    const timers = (service.definition as { timers?: Record<string, TimerDefinition> }).timers;
    if (timers === undefined || this.#running.has(service)) return;
    const list: Running[] = [];
    for (const [name, def] of Object.entries(timers)) {
      const state: Running = { timer: undefined, busy: false, stopped: false };
      list.push(state);
      const every = def.every === undefined ? undefined : parseDuration(def.every);
      const cron = def.cron === undefined ? undefined : parseCron(def.cron);
      const delay = () => (every !== undefined ? every : cron!.next(Date.now()) - Date.now());
      const schedule = () => {
        if (state.stopped) return;
        state.timer = setTimeout(() => {
          this.#tick(service, name, def, state);
          schedule();
        }, delay());
        state.timer.unref();
      };
      if (def.runOnStart) this.#tick(service, name, def, state);
      schedule();
    }
    this.#running.set(service, list);
  }

  stop(service: Service): void {
    for (const state of this.#running.get(service) ?? []) {
      state.stopped = true;
      clearTimeout(state.timer);
    }
    this.#running.delete(service);
  }

  /** Whether this node is the one to run a singleton timer of `service` now. */
  isLeader(service: string): boolean {
    let leader = this.registry.isStarted(service) ? this.host.nodeID : undefined;
    for (const node of this.registry.remote.nodes.values()) {
      if (!node.info.services.some((s) => s.fullName === service)) continue;
      if (leader === undefined || node.id < leader) leader = node.id;
    }
    return leader === this.host.nodeID;
  }

  #tick(service: Service, name: string, def: TimerDefinition, state: Running): void {
    if (state.busy) {
      this.logger.debug(
        { service: service.fullName, timer: name },
        "Timer still busy: skipped a run",
      );
      return;
    }
    if (def.singleton && !this.isLeader(service.fullName)) return;
    state.busy = true;
    const ctx = new CallContext<Params>(this.host, {
      name: `${service.fullName}.${name}`,
      params: {},
      service,
    });
    Promise.resolve()
      .then(() => def.handler(ctx))
      .catch((err: unknown) =>
        this.logger.error(
          { err, service: service.fullName, timer: name },
          `Timer '${service.fullName}.${name}' failed`,
        ),
      )
      .finally(() => {
        state.busy = false;
      });
  }
}
