import {
  boolean,
  type Check,
  either,
  list,
  number,
  object,
  oneOf,
  optional,
  record,
  shape,
  text,
} from "../util/shape.js";

/**
 * Bounds of what a node may announce and send. Generous for real clusters, small enough that
 * one stranger's packet costs a fixed budget to check, index and log.
 */
export const ANNOUNCEMENT_LIMITS = {
  /** Node IDs, instance IDs, packet IDs. */
  id: 256,
  /** Action, event, service and group names, request IDs, routes. */
  name: 1024,
  /** Descriptions, summaries, host names, versions, schema hashes. */
  text: 64 * 1024,
  servicesPerNode: 1000,
  actionsPerService: 10_000,
  eventsPerService: 10_000,
  routesPerAction: 64,
} as const;

const L = ANNOUNCEMENT_LIMITS;
const id = text(L.id, true);
const name = text(L.name, true);
const prose = optional(text(L.text));
/** JSON Schema: an object, or `true`/`false`. */
const schema = optional(either(object, boolean));

/** `true`, or what to use instead, for an action or event handler marked deprecated. */
const deprecated = optional(either(oneOf([true]), text(L.text)));

/** Roles and scopes an action requires (the gateway enforces them). */
const auth = optional(
  shape({
    roles: optional(list(L.routesPerAction, name)),
    scopes: optional(list(L.routesPerAction, name)),
    enforce: optional(oneOf(["gateway", "always"])),
  }),
);

const action = shape({
  name,
  visibility: oneOf(["published", "public", "protected", "private"]),
  rest: list(L.routesPerAction, text(L.name)),
  timeout: optional(number(0)),
  summary: prose,
  description: prose,
  params: schema,
  result: schema,
  schemaHash: prose,
  idempotent: optional(boolean),
  auth,
  deprecated,
});

const listener = shape({
  event: name,
  group: name,
  durable: optional(boolean),
  deprecated,
  params: schema,
});

const service = shape({
  name,
  version: optional(either(text(L.text), number())),
  fullName: name,
  actions: list(L.actionsPerService, action),
  events: list(L.eventsPerService, listener),
  metadata: optional(object),
  dependencies: optional(list(L.servicesPerNode, name)),
  emits: optional(record(L.eventsPerService, either(object, boolean))),
});

/**
 * Checks a node's announcement (an INFO body, or one from another discovery source) before the
 * catalogue indexes it. Returns what is wrong with it, or `undefined` when it has the shape of
 * a {@link NodeAnnouncement} within {@link ANNOUNCEMENT_LIMITS}.
 *
 * @example
 * ```ts
 * checkAnnouncement({ sender: "n1", services: [null] }); // ".instanceID: expected ..."
 * ```
 */
export const checkAnnouncement: Check = shape({
  sender: id,
  instanceID: id,
  seq: number(),
  hostname: text(L.text),
  services: list(L.servicesPerNode, service),
});
