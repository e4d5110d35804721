import { ServiceSchemaError } from "../errors/index.js";
import { toJSONSchema } from "../service/json-schema.js";
import type { Service } from "../service/service.js";
import type { ActionInfo } from "./catalog.js";
import type { LocalAction, LocalListener } from "./local.js";
import { matchesEvent } from "./patterns.js";

/**
 * The catalogue of what this node knows: its own services, actions and event listeners, and
 * which services (local or on other nodes) are available. Lookups on the call path are single
 * map reads; event routing is cached per event name.
 */
export class Registry {
  readonly services = new Map<string, Service>();
  readonly actions = new Map<string, LocalAction>();
  readonly listeners: LocalListener[] = [];
  readonly #byEvent = new Map<string, LocalListener[]>();
  /** Full names of services that are ready to take calls, with how many nodes offer each. */
  readonly #available = new Map<string, number>();
  readonly #watchers = new Set<() => void>();

  /** Adds a local service with its actions and listeners. Names must be unique per node. */
  addService(service: Service, actions: LocalAction[], listeners: LocalListener[]): void {
    if (this.services.has(service.fullName)) {
      throw new ServiceSchemaError(
        `Service '${service.fullName}' is already created on this node.`,
      );
    }
    this.services.set(service.fullName, service);
    for (const action of actions) this.actions.set(action.name, action);
    this.listeners.push(...listeners);
    this.#byEvent.clear();
  }

  /** Removes a local service and everything it registered. */
  removeService(service: Service): void {
    this.services.delete(service.fullName);
    for (const [name, action] of this.actions)
      if (action.service === service) this.actions.delete(name);
    for (let i = this.listeners.length - 1; i >= 0; i--) {
      if (this.listeners[i]?.service === service) this.listeners.splice(i, 1);
    }
    this.#byEvent.clear();
  }

  /** Local listeners whose name or pattern matches `event`. */
  listenersFor(event: string): LocalListener[] {
    let found = this.#byEvent.get(event);
    if (found === undefined) {
      found = this.listeners.filter((l) => matchesEvent(l.event, event));
      this.#byEvent.set(event, found);
    }
    return found;
  }

  /**
   * Every action the cluster offers, with its routes and schemas. Only services that are
   * available (started) are listed; watch for changes with {@link Registry.watch}.
   */
  catalog(): ActionInfo[] {
    const list: ActionInfo[] = [];
    for (const action of this.actions.values()) {
      if (!this.isAvailable(action.service.fullName)) continue;
      const def = action.definition;
      const rest =
        def.rest === undefined ? [] : typeof def.rest === "string" ? [def.rest] : [...def.rest];
      list.push({
        name: action.name,
        service: action.service.fullName,
        visibility: action.visibility,
        rest,
        summary: def.summary,
        description: def.description,
        params: toJSONSchema(def.params, "input"),
        result: toJSONSchema(def.result, "output"),
        nodeIDs: [action.service.broker.nodeID],
      });
    }
    return list;
  }

  /** Marks a service as able (or no longer able) to take calls; wakes `waitFor` callers. */
  setAvailable(fullName: string, available: boolean): void {
    const count = (this.#available.get(fullName) ?? 0) + (available ? 1 : -1);
    if (count > 0) this.#available.set(fullName, count);
    else this.#available.delete(fullName);
    for (const watcher of [...this.#watchers]) watcher();
  }

  isAvailable(fullName: string): boolean {
    return this.#available.has(fullName);
  }

  /** Calls `watcher` on every availability change until the returned function is called. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }
}
