import { inboxHandler } from "../data/inbox.js";
import { ServiceSchemaError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { ActionHandler, EventHandler, LocalAction, LocalListener } from "../registry/local.js";
import { jsonSchemaGap } from "../service/json-schema.js";
import { Service } from "../service/service.js";
import type {
  ActionDefinition,
  AnyServiceDefinition,
  EventDefinition,
  ServiceHost,
  Visibility,
} from "../service/types.js";
import { checkTimers } from "../timers/timers.js";

const VISIBILITIES: readonly Visibility[] = ["published", "public", "protected", "private"];

/** A service turned into what the registry stores. */
export interface LoadedService {
  service: Service;
  actions: LocalAction[];
  listeners: LocalListener[];
}

/**
 * Checks a definition and builds the running service with its actions and listeners. Every
 * mistake is reported with the service and member it concerns, at `createService` time.
 */
export function loadService(
  def: AnyServiceDefinition,
  host: ServiceHost,
  logger: Logger,
): LoadedService {
  if (typeof def !== "object" || def === null) {
    throw new ServiceSchemaError("A service definition must be an object (use defineService).");
  }
  if (typeof def.name !== "string" || !/^[\w$-]+$/.test(def.name)) {
    throw new ServiceSchemaError(
      `Service name ${JSON.stringify(def.name)} is invalid: use letters, digits, '_', '-' or '$'.`,
    );
  }
  const service = new Service(def, host, logger);
  checkTimers(service.fullName, def.timers);
  const actions = Object.entries((def.actions ?? {}) as Record<string, unknown>).map(
    ([key, value]) => toAction(service, key, value),
  );
  for (const action of actions) warnWithoutJSONSchema(action, logger);
  const listeners = Object.entries((def.events ?? {}) as Record<string, unknown>).map(
    ([event, value]) => toListener(service, event, value),
  );
  return { service, actions, listeners };
}

function toAction(service: Service, key: string, value: unknown): LocalAction {
  const name = `${service.fullName}.${key}`;
  const def = value as ActionDefinition<unknown> | undefined;
  if (typeof def?.handler !== "function") {
    throw new ServiceSchemaError(`Action '${name}' needs a handler function.`);
  }
  const visibility = def.visibility ?? "public";
  if (!VISIBILITIES.includes(visibility)) {
    throw new ServiceSchemaError(
      `Action '${name}' has visibility '${String(visibility)}'; use one of ${VISIBILITIES.join(", ")}.`,
    );
  }
  const raw = def.handler.bind(def) as ActionHandler;
  return { name, service, definition: def, visibility, raw, handler: raw };
}

/** A schema that cannot describe itself would vanish from OpenAPI and the registry unnoticed. */
function warnWithoutJSONSchema(action: LocalAction, logger: Logger): void {
  for (const key of ["params", "returns", "result"] as const) {
    const vendor = jsonSchemaGap(action.definition[key]);
    if (vendor === undefined) continue;
    logger.warn(
      { action: action.name, schema: key, vendor },
      `The ${key} schema of '${action.name}' (${vendor}) has no JSON Schema: it validates, but ` +
        "OpenAPI and the registry cannot describe it. Wrap it with withJSONSchema(schema, " +
        "jsonSchema) (see docs/services.md), or use a library that implements Standard JSON " +
        "Schema, such as zod 4.",
    );
  }
}

/**
 * The balancing group of a listener, by kind: its service (or `group`) by default, so one
 * instance per service gets each event; one group per instance for `broadcast`; one group for
 * the whole cluster for `single`, so exactly one handler anywhere gets each event.
 */
function groupOf(def: EventDefinition<unknown>, event: string, service: Service): string {
  const base = def.group ?? service.fullName;
  if (def.kind === "broadcast") return `${base}.${service.broker.nodeID}`;
  if (def.kind === "single") return def.group ?? `$single:${event}`;
  return base;
}

function toListener(service: Service, event: string, value: unknown): LocalListener {
  const def = value as EventDefinition<unknown> | undefined;
  if (typeof def?.handler !== "function") {
    throw new ServiceSchemaError(
      `Event handler '${event}' of '${service.fullName}' needs a handler function.`,
    );
  }
  if (def.durable === true && event.includes("*")) {
    throw new ServiceSchemaError(
      `Durable handler '${event}' of '${service.fullName}' needs an exact event name, not a pattern.`,
    );
  }
  if (def.inbox === true && (def.durable !== true || service.definition.database === undefined)) {
    throw new ServiceSchemaError(
      `Event handler '${event}' of '${service.fullName}' has inbox: true, which needs durable: true ` +
        "and a database (database: defineDatabase<DB>() in the service).",
    );
  }
  const bound = def.handler.bind(def) as EventHandler;
  const raw = def.inbox === true ? inboxHandler(bound) : bound;
  return {
    event,
    group: groupOf(def, event, service),
    service,
    definition: def,
    raw,
    handler: raw,
  };
}
