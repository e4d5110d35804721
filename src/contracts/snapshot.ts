import type { ServiceDescriptor } from "../registry/catalog.js";
import { dependencyName, serviceFullName } from "../service/define.js";
import { type JSONSchema, jsonSchemaGap, toJSONSchema } from "../service/json-schema.js";
import type { AnyServiceDefinition, Visibility } from "../service/types.js";

/** The format of snapshot files; a reader refuses any other. */
export const SNAPSHOT_FORMAT = "flotilla-contracts/1";

/** What one action promises other services: what it accepts and what it answers. */
export interface ActionContract {
  /** `published` (also over HTTP) or `public` (any node); other actions are not a contract. */
  visibility: Extract<Visibility, "published" | "public">;
  /** HTTP routes of the gateway, sorted; absent when none. */
  rest?: string[];
  /** JSON Schema of the params callers send (input side); absent when the action has none. */
  params?: JSONSchema;
  /** JSON Schema of the result (`returns`, else `result`); absent when the action declares none. */
  result?: JSONSchema;
}

/** An event a service handles: the payload its handler accepts. */
export interface EventContract {
  /** JSON Schema of the payload (input side); absent when the handler declares none. */
  params?: JSONSchema;
}

/** The contract of one service at one version. */
export interface ServiceContract {
  name: string;
  version?: string | number;
  /** Full names of the services it declares it depends on, sorted: its likely callees. */
  dependencies: string[];
  /** Its public and published actions, by short name (`get` of `users.get`). */
  actions: Record<string, ActionContract>;
  /** The events it handles, by name (or pattern). */
  events: Record<string, EventContract>;
  /** The events it declares it emits, with their payload schemas. */
  emits: Record<string, JSONSchema>;
}

/** Every service's contract, by full name (`users`, `v2.users`): what a snapshot file holds. */
export interface ContractSnapshot {
  flotilla: typeof SNAPSHOT_FORMAT;
  services: Record<string, ServiceContract>;
}

/**
 * Marks a schema that exists but cannot describe itself as JSON Schema (a library without
 * Standard JSON Schema): it is kept as an opaque value, so changes inside it cannot be seen.
 */
export const OPAQUE_SCHEMA = "x-flotilla-opaque";

/**
 * The contract of a service definition, as `flotilla contracts snapshot` writes it from
 * service files: public and published actions with their params and result schemas, handled
 * events with their payload schemas, declared emitted events and dependencies.
 *
 * @example
 * ```ts
 * contractOfDefinition(math).actions.add; // { visibility: "public", params: {...} }
 * ```
 */
export function contractOfDefinition(def: AnyServiceDefinition): ServiceContract {
  const actions: Record<string, ActionContract> = {};
  for (const [key, value] of Object.entries((def.actions ?? {}) as Record<string, unknown>)) {
    const action = (value ?? {}) as {
      visibility?: Visibility;
      rest?: string | readonly string[];
      params?: unknown;
      returns?: unknown;
      result?: unknown;
    };
    const visibility = action.visibility ?? "public";
    if (visibility !== "published" && visibility !== "public") continue;
    actions[key] = actionContract({
      visibility,
      rest: action.rest === undefined ? [] : [action.rest].flat(),
      params: schemaOf(action.params, "input"),
      result:
        action.returns !== undefined
          ? schemaOf(action.returns, "input")
          : schemaOf(action.result, "output"),
    });
  }
  const events: Record<string, EventContract> = {};
  for (const [event, value] of Object.entries((def.events ?? {}) as Record<string, unknown>)) {
    const params = schemaOf((value as { params?: unknown } | undefined)?.params, "input");
    events[event] = params === undefined ? {} : { params };
  }
  const emits: Record<string, JSONSchema> = {};
  for (const [event, schema] of Object.entries((def.emits ?? {}) as Record<string, unknown>)) {
    emits[event] = schemaOf(schema, "input") ?? {};
  }
  return serviceContract({
    name: def.name,
    version: def.version,
    dependencies: (def.dependencies ?? []).map(dependencyName),
    actions,
    events,
    emits,
  });
}

/**
 * The contract of a service as a node announces it (its INFO): what `flotilla contracts` reads
 * from a running cluster.
 */
export function contractOfDescriptor(d: ServiceDescriptor): ServiceContract {
  const actions: Record<string, ActionContract> = {};
  for (const a of d.actions) {
    if (a.visibility !== "published" && a.visibility !== "public") continue;
    const key = a.name.startsWith(`${d.fullName}.`) ? a.name.slice(d.fullName.length + 1) : a.name;
    actions[key] = actionContract({
      visibility: a.visibility,
      rest: a.rest,
      params: a.params,
      result: a.result,
    });
  }
  const events: Record<string, EventContract> = {};
  for (const l of d.events) events[l.event] = l.params === undefined ? {} : { params: l.params };
  return serviceContract({
    name: d.name,
    version: d.version,
    dependencies: d.dependencies ?? [],
    actions,
    events,
    emits: d.emits ?? {},
  });
}

/** A snapshot of these contracts, keyed by full name; a name seen twice keeps the first. */
export function snapshotOf(contracts: Iterable<ServiceContract>): ContractSnapshot {
  const services: Record<string, ServiceContract> = {};
  for (const c of contracts) {
    const fullName = serviceFullName(c.name, c.version);
    if (!Object.hasOwn(services, fullName)) services[fullName] = c;
  }
  return { flotilla: SNAPSHOT_FORMAT, services };
}

function actionContract(a: {
  visibility: ActionContract["visibility"];
  rest: readonly string[];
  params: JSONSchema | undefined;
  result: JSONSchema | undefined;
}): ActionContract {
  const out: ActionContract = { visibility: a.visibility };
  if (a.rest.length > 0) out.rest = [...new Set(a.rest)].sort();
  if (a.params !== undefined) out.params = normalizeSchema(a.params);
  if (a.result !== undefined) out.result = normalizeSchema(a.result);
  return out;
}

function serviceContract(c: {
  name: string;
  version: string | number | undefined;
  dependencies: readonly string[];
  actions: Record<string, ActionContract>;
  events: Record<string, EventContract>;
  emits: Record<string, JSONSchema>;
}): ServiceContract {
  const events: Record<string, EventContract> = {};
  for (const [name, e] of Object.entries(c.events))
    events[name] = e.params === undefined ? {} : { params: normalizeSchema(e.params) };
  const emits: Record<string, JSONSchema> = {};
  for (const [name, schema] of Object.entries(c.emits)) emits[name] = normalizeSchema(schema);
  return {
    name: c.name,
    ...(c.version === undefined ? {} : { version: c.version }),
    dependencies: [...new Set(c.dependencies)].sort(),
    actions: c.actions,
    events,
    emits,
  };
}

/** A schema's JSON Schema; an opaque marker when it has none; `undefined` without a schema. */
function schemaOf(schema: unknown, io: "input" | "output"): JSONSchema | undefined {
  if (schema === undefined || schema === null) return undefined;
  return toJSONSchema(schema, io) ?? { [OPAQUE_SCHEMA]: jsonSchemaGap(schema) ?? "unknown" };
}

/**
 * The order of `required` means nothing, and libraries list it as the fields were declared:
 * sorted, so moving a field in the source changes no snapshot.
 */
function normalizeSchema(schema: JSONSchema): JSONSchema {
  return normalize(schema) as JSONSchema;
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      key === "required" && Array.isArray(item) && item.every((r) => typeof r === "string")
        ? [...new Set(item)].sort()
        : normalize(item);
  }
  return out;
}
