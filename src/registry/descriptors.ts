import { createHash } from "node:crypto";
import { type JSONSchema, resultJSONSchema, toJSONSchema } from "../service/json-schema.js";
import type { Service } from "../service/service.js";
import type { ActionDescriptor, ServiceDescriptor } from "./catalog.js";
import { deprecationOf } from "./deprecations.js";
import type { Registry } from "./registry.js";

const cache = new WeakMap<Service, ServiceDescriptor>();

/**
 * How this node describes its started services to the others: actions callable from other
 * nodes (not `protected` or `private`) with routes and JSON Schemas, and event subscriptions.
 * Descriptors are built once per service.
 */
export function describeServices(registry: Registry): ServiceDescriptor[] {
  const out: ServiceDescriptor[] = [];
  for (const service of registry.services.values()) {
    if (!registry.isStarted(service.fullName)) continue;
    let descriptor = cache.get(service);
    if (descriptor === undefined) {
      descriptor = describe(registry, service);
      cache.set(service, descriptor);
    }
    out.push(descriptor);
  }
  return out;
}

function describe(registry: Registry, service: Service): ServiceDescriptor {
  const actions: ActionDescriptor[] = [];
  for (const action of registry.actions.values()) {
    if (action.service !== service) continue;
    if (action.visibility === "protected" || action.visibility === "private") continue;
    const def = action.definition;
    const params = toJSONSchema(def.params, "input");
    actions.push({
      name: action.name,
      visibility: action.visibility,
      rest: def.rest === undefined ? [] : typeof def.rest === "string" ? [def.rest] : [...def.rest],
      timeout: def.timeout,
      summary: def.summary,
      description: def.description,
      params,
      result: resultJSONSchema(def),
      schemaHash: params === undefined ? undefined : hash(params),
      idempotent: def.idempotent === true && def.retry !== false ? true : undefined,
      auth: def.auth,
      deprecated: deprecationOf(def.deprecated),
    });
  }
  const events = registry.listeners
    .filter((l) => l.service === service)
    .map((l) => ({
      event: l.event,
      group: l.group,
      durable: l.definition.durable === true ? true : undefined,
      params: toJSONSchema(l.definition.params, "input"),
      deprecated: deprecationOf(l.definition.deprecated),
    }));
  return {
    name: service.name,
    version: service.version,
    fullName: service.fullName,
    actions,
    events,
    metadata: service.definition.metadata,
    dependencies: service.dependencies.length > 0 ? [...service.dependencies] : undefined,
    emits: emitsOf(service),
  };
}

/** The payload schemas of the events the service declares it emits (`{}` when one cannot say). */
function emitsOf(service: Service): Record<string, JSONSchema> | undefined {
  const emits = service.definition.emits;
  if (typeof emits !== "object" || emits === null) return undefined;
  const out: Record<string, JSONSchema> = {};
  for (const [event, schema] of Object.entries(emits)) out[event] = toJSONSchema(schema) ?? {};
  return Object.keys(out).length > 0 ? out : undefined;
}

function hash(value: unknown): string {
  return createHash("sha1").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}
