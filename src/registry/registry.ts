import { ServiceSchemaError } from "../errors/index.js";
import { resultJSONSchema, toJSONSchema } from "../service/json-schema.js";
import type { Service } from "../service/service.js";
import type { ActionInfo } from "./catalog.js";
import { deprecationOf } from "./deprecations.js";
import type { LocalAction, LocalListener } from "./local.js";
import { matchesEvent } from "./patterns.js";
import { RemoteCatalog } from "./remote.js";

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
  /** What other nodes offer. */
  readonly remote = new RemoteCatalog();
  /** Full names of local services that have started. */
  readonly #started = new Set<string>();
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
   * Every action the cluster offers, with its routes and schemas: local ones whose service has
   * started, and those other nodes announce. Watch for changes with {@link Registry.watch}.
   */
  catalog(): ActionInfo[] {
    const byName = new Map<string, ActionInfo>();
    for (const action of this.actions.values()) {
      if (!this.#started.has(action.service.fullName) || action.visibility === "private") continue;
      const def = action.definition;
      const rest =
        def.rest === undefined ? [] : typeof def.rest === "string" ? [def.rest] : [...def.rest];
      byName.set(action.name, {
        name: action.name,
        service: action.service.fullName,
        visibility: action.visibility,
        rest,
        summary: def.summary,
        description: def.description,
        params: toJSONSchema(def.params, "input"),
        result: resultJSONSchema(def),
        auth: def.auth,
        deprecated: deprecationOf(def.deprecated),
        nodeIDs: [action.service.broker.nodeID],
      });
    }
    for (const [name, endpoints] of this.remote.actions()) {
      const first = endpoints[0];
      if (first === undefined) continue;
      const nodeIDs = endpoints.map((e) => e.nodeID);
      const known = byName.get(name);
      if (known !== undefined) {
        byName.set(name, { ...known, nodeIDs: [...known.nodeIDs, ...nodeIDs] });
        continue;
      }
      const d = first.descriptor;
      byName.set(name, {
        name,
        service: first.service,
        visibility: d.visibility,
        rest: d.rest,
        summary: d.summary,
        description: d.description,
        params: d.params,
        result: d.result,
        auth: d.auth,
        deprecated: d.deprecated,
        nodeIDs,
      });
    }
    return [...byName.values()];
  }

  /** Marks a local service as started (or stopped); wakes `watch` callers. */
  setStarted(fullName: string, started: boolean): void {
    if (started) this.#started.add(fullName);
    else this.#started.delete(fullName);
    this.changed();
  }

  /** Whether the local service has started. */
  isStarted(fullName: string): boolean {
    return this.#started.has(fullName);
  }

  /** Whether a service is ready on this node or announced by another. */
  isAvailable(fullName: string): boolean {
    return this.#started.has(fullName) || this.remote.hasService(fullName);
  }

  /** Tells every watcher that what the cluster offers has changed. */
  changed(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  /** Calls `watcher` on every change of availability until the returned function is called. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }
}
