import { CallContext } from "../broker/context.js";
import { ServiceSchemaError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../registry/registry.js";
import type { ContextHost, Params } from "../service/call-types.js";
import type { Service } from "../service/service.js";
import type { TimerDefinition } from "../service/types.js";
import { parseCron } from "./cron.js";
import { parseDuration } from "./duration.js";

interface Running {
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
  stopped: boolean;
}

/** The longest delay `setTimeout` takes; a longer one fires at once. */
const MAX_DELAY = 2 ** 31 - 1;

type Wait = (ms: number, then: () => void) => void;

/** Runs every `def.every` ms, counted on the monotonic timer clock (wall-clock jumps do not matter). */
function everyLoop(def: TimerDefinition, wait: Wait, run: () => void): () => void {
  const every = parseDuration(def.every ?? 0);
  const loop = () =>
    wait(every, () => {
      run();
      loop();
    });
  return loop;
}

/**
 * Runs at each time of the cron schedule, by the wall clock: a wait that ends before the due time
 * (the clock was set back) waits again, and the next run is computed after the due time.
 */
function cronLoop(def: TimerDefinition, wait: Wait, run: () => void): () => void {
  const cron = parseCron(def.cron ?? "", def.timezone);
  const loop = (from: number) => {
    const due = cron.next(from);
    if (due === undefined) return; // only a schedule with a year field ends
    const until = () => {
      if (Date.now() < due) return wait(due - Date.now(), until);
      run();
      loop(Math.max(Date.now(), due));
    };
    wait(due - Date.now(), until);
  };
  return () => loop(Date.now());
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
    if (def.cron !== undefined) parseCron(def.cron, def.timezone);
    else if (def.timezone !== undefined) {
      throw new ServiceSchemaError(
        `Timer '${service}.${name}': 'timezone' applies to 'cron' only.`,
      );
    }
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
      // Waits `ms` in steps: setTimeout holds at most 2^31-1 ms (24.8 days), longer fires at once.
      const wait = (ms: number, then: () => void) => {
        if (state.stopped) return;
        const step = Math.min(Math.max(ms, 0), MAX_DELAY);
        state.timer = setTimeout(() => (ms > step ? wait(ms - step, then) : then()), step);
        state.timer.unref();
      };
      const run = () => this.#tick(service, name, def, state);
      const schedule =
        def.every === undefined ? cronLoop(def, wait, run) : everyLoop(def, wait, run);
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
