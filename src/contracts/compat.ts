import { matchesEvent } from "../registry/patterns.js";
import type { JSONSchema } from "../service/json-schema.js";
import { type Direction, diffSchemas } from "./schema-diff.js";
import type { ActionContract, ContractSnapshot, ServiceContract } from "./snapshot.js";

/** Someone whose code relies on a contract: a service (with where it is known from), or HTTP clients. */
export interface Affected {
  /** The service's full name; absent for HTTP clients. */
  service?: string;
  /** How it is known: `depends on products`, `calls it in orders/saga.ts:120`, `handles it`... */
  how: string;
  /** Nodes running that service, when read from a cluster. */
  nodes?: string[];
}

/** One change between two snapshots, classified. */
export interface ContractChange {
  kind: "service" | "action" | "event";
  /** The service (full name), action (`v2.users.get`) or event (`orders.created`). */
  name: string;
  /** The service whose contract changed. */
  service: string;
  /**
   * What changed: the member itself (`removed`, `added`), its `params` or `result` (actions),
   * its `routes` (HTTP), the payload a `handler` accepts, or the payload it `emits`.
   */
  part: "member" | "params" | "result" | "routes" | "handler" | "emits";
  /** The field, `""` for the whole part. */
  path: string;
  breaking: boolean;
  why: string;
  /** Whose code a breaking change breaks: an action's callers, an event's emitters or handlers. */
  affects: "callers" | "emitters" | "handlers";
  /** Who that is, as far as known; empty when unknown (then: anyone who calls or uses it). */
  affected: Affected[];
}

/** What {@link checkCompatibility} found. */
export interface CompatibilityReport {
  changes: ContractChange[];
  breaking: number;
  compatible: number;
}

/** A place in a service's source that names an action (found by `findCallSites`). */
export interface CallSite {
  /** The calling service's full name. */
  service: string;
  /** Where, relative to where the command ran. */
  file: string;
  line: number;
}

/** What is known beyond the two snapshots, to name who a change breaks. */
export interface CheckContext {
  /** Call sites in the sources, by action full name. */
  callSites?: ReadonlyMap<string, readonly CallSite[]>;
  /** Nodes running each service (full name), when a side was read from a cluster. */
  nodes?: ReadonlyMap<string, readonly string[]>;
  /**
   * Compare only these services (full names); the others still say who calls and handles
   * what. For a check of some services against a cluster that runs many more.
   */
  only?: ReadonlySet<string>;
}

/**
 * Classifies every change from `before` (what runs, or the committed snapshot) to `after` (what
 * is about to ship) as breaking or compatible, from both sides of each call and event, and names
 * whose code it breaks. The rules: docs/contracts.md, "Compatibility rules".
 *
 * @example
 * ```ts
 * const report = checkCompatibility(readSnapshot("contracts.json"), snapshotOf(contracts));
 * if (report.breaking > 0) process.exitCode = 1;
 * ```
 */
export function checkCompatibility(
  before: ContractSnapshot,
  after: ContractSnapshot,
  context: CheckContext = {},
): CompatibilityReport {
  const who = new Who(before, after, context);
  const changes: ContractChange[] = [];
  const names = [...new Set([...Object.keys(before.services), ...Object.keys(after.services)])];
  for (const service of names.sort()) {
    if (context.only !== undefined && !context.only.has(service)) continue;
    const old = before.services[service];
    const neu = after.services[service];
    if (old === undefined && neu !== undefined) {
      changes.push(added("service", service, service, "new service", "callers", []));
      continue;
    }
    const was = old ?? empty(service);
    const is = neu ?? empty(service);
    const gone = neu === undefined ? " (the service is gone)" : "";
    changes.push(...actionChanges(service, was, is, gone, who));
    changes.push(...eventChanges(service, was, is, gone, who));
  }
  const breaking = changes.filter((c) => c.breaking).length;
  return { changes, breaking, compatible: changes.length - breaking };
}

function actionChanges(
  service: string,
  was: ServiceContract,
  is: ServiceContract,
  gone: string,
  who: Who,
): ContractChange[] {
  const out: ContractChange[] = [];
  const keys = [...new Set([...Object.keys(was.actions), ...Object.keys(is.actions)])].sort();
  for (const key of keys) {
    const name = `${service}.${key}`;
    const [a, b] = [was.actions[key], is.actions[key]];
    const base = { kind: "action" as const, name, service, affects: "callers" as const };
    if (b === undefined) {
      const affected = who.callersOf(name, a);
      out.push({
        ...base,
        part: "member",
        path: "",
        breaking: true,
        why: `removed${gone}`,
        affected,
      });
      continue;
    }
    if (a === undefined) {
      out.push(added("action", name, service, "new action", "callers", []));
      continue;
    }
    const affected = who.callersOf(name, a);
    const routes = (c: ActionContract) => (c.visibility === "published" ? (c.rest ?? []) : []);
    for (const route of routes(a).filter((r) => !routes(b).includes(r)))
      out.push({
        ...base,
        part: "routes",
        path: route,
        breaking: true,
        why: "no longer served over HTTP",
        affected,
      });
    for (const route of routes(b).filter((r) => !routes(a).includes(r)))
      out.push({
        ...base,
        part: "routes",
        path: route,
        breaking: false,
        why: "new HTTP route",
        affected,
      });
    out.push(...schemaChanges(base, "params", a.params, b.params, "input", affected));
    out.push(...schemaChanges(base, "result", a.result, b.result, "output", affected));
  }
  return out;
}

function eventChanges(
  service: string,
  was: ServiceContract,
  is: ServiceContract,
  gone: string,
  who: Who,
): ContractChange[] {
  const out: ContractChange[] = [];
  const handled = [...new Set([...Object.keys(was.events), ...Object.keys(is.events)])].sort();
  for (const event of handled) {
    const [a, b] = [was.events[event], is.events[event]];
    const base = { kind: "event" as const, name: event, service, affects: "emitters" as const };
    const affected = who.emittersOf(event, service);
    if (b === undefined) {
      const why = `no longer handled by ${service}${gone}: what emitters send is not processed there`;
      out.push({ ...base, part: "member", path: "", breaking: true, why, affected });
    } else if (a === undefined) {
      out.push({
        ...base,
        part: "member",
        path: "",
        breaking: false,
        why: `now handled by ${service}`,
        affected,
      });
    } else out.push(...schemaChanges(base, "handler", a.params, b.params, "input", affected));
  }
  const emitted = [...new Set([...Object.keys(was.emits), ...Object.keys(is.emits)])].sort();
  for (const event of emitted) {
    const [a, b] = [was.emits[event], is.emits[event]];
    const base = { kind: "event" as const, name: event, service, affects: "handlers" as const };
    const affected = who.handlersOf(event, service);
    if (b === undefined) {
      out.push({
        ...base,
        part: "member",
        path: "",
        breaking: true,
        why: `no longer emitted by ${service}${gone}`,
        affected,
      });
    } else if (a === undefined) {
      out.push({
        ...base,
        part: "member",
        path: "",
        breaking: false,
        why: `now emitted by ${service}`,
        affected,
      });
    } else out.push(...schemaChanges(base, "emits", a, b, "output", affected));
  }
  return out;
}

function schemaChanges(
  base: Pick<ContractChange, "kind" | "name" | "service" | "affects">,
  part: ContractChange["part"],
  before: JSONSchema | undefined,
  after: JSONSchema | undefined,
  direction: Direction,
  affected: Affected[],
): ContractChange[] {
  return diffSchemas(before, after, direction).map((c) => ({ ...base, part, ...c, affected }));
}

function added(
  kind: ContractChange["kind"],
  name: string,
  service: string,
  why: string,
  affects: ContractChange["affects"],
  affected: Affected[],
): ContractChange {
  return { kind, name, service, part: "member", path: "", breaking: false, why, affects, affected };
}

function empty(name: string): ServiceContract {
  return { name, dependencies: [], actions: {}, events: {}, emits: {} };
}

/** Who relies on what, from both snapshots and what else is known. */
class Who {
  readonly #services: [string, ServiceContract][];

  constructor(
    before: ContractSnapshot,
    after: ContractSnapshot,
    readonly context: CheckContext,
  ) {
    // The shipping side first: its dependencies and handlers are the ones that will run.
    const seen = new Set<string>();
    this.#services = [];
    for (const [name, c] of [
      ...Object.entries(after.services),
      ...Object.entries(before.services),
    ]) {
      if (seen.has(name)) continue;
      seen.add(name);
      this.#services.push([name, c]);
    }
  }

  /** Services that depend on the action's service or name it in their code, and HTTP clients. */
  callersOf(action: string, contract: ActionContract | undefined): Affected[] {
    const service = action.slice(0, action.lastIndexOf("."));
    const found = new Map<string, Affected>();
    for (const site of this.context.callSites?.get(action) ?? []) {
      if (site.service === service || found.has(site.service)) continue;
      found.set(
        site.service,
        this.#with({ service: site.service, how: `calls it in ${site.file}:${site.line}` }),
      );
    }
    for (const [name, c] of this.#services) {
      if (name === service || found.has(name) || !c.dependencies.includes(service)) continue;
      found.set(name, this.#with({ service: name, how: `depends on ${service}` }));
    }
    const out = [...found.values()].sort((a, b) =>
      (a.service ?? "").localeCompare(b.service ?? ""),
    );
    if (contract?.visibility === "published" && (contract.rest?.length ?? 0) > 0)
      out.push({ how: `HTTP clients of ${contract.rest!.join(", ")}` });
    return out;
  }

  /** Services that declare they emit the event (other than `except`). */
  emittersOf(event: string, except: string): Affected[] {
    return this.#services
      .filter(
        ([name, c]) => name !== except && Object.keys(c.emits).some((e) => matchesEvent(event, e)),
      )
      .map(([name]) => this.#with({ service: name, how: `declares it emits ${event}` }));
  }

  /** Services with a handler of the event (other than `except`). */
  handlersOf(event: string, except: string): Affected[] {
    return this.#services
      .filter(
        ([name, c]) => name !== except && Object.keys(c.events).some((e) => matchesEvent(e, event)),
      )
      .map(([name]) => this.#with({ service: name, how: "handles it" }));
  }

  #with(affected: Affected): Affected {
    const nodes =
      affected.service === undefined ? undefined : this.context.nodes?.get(affected.service);
    return nodes === undefined || nodes.length === 0
      ? affected
      : { ...affected, nodes: [...nodes] };
  }
}
