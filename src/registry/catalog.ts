import type { JSONSchema } from "../service/json-schema.js";
import type { ActionAuth, Visibility } from "../service/types.js";

/**
 * One action as the whole cluster offers it: what the gateway routes and documents, whichever
 * node serves it. Built from local definitions and from other nodes' INFO packets alike.
 */
export interface ActionInfo {
  /** The name it is called under, e.g. `v2.users.get`. */
  readonly name: string;
  /** The full name of its service. */
  readonly service: string;
  readonly visibility: Visibility;
  /** HTTP routes declared with `rest`, e.g. `["GET /users/:id"]`. */
  readonly rest: readonly string[];
  readonly summary?: string | undefined;
  readonly description?: string | undefined;
  /** JSON Schema of the params (input side), when the schema library can produce one. */
  readonly params?: JSONSchema | undefined;
  /** JSON Schema of the result, when the action declares `returns` (or `result`). */
  readonly result?: JSONSchema | undefined;
  /** Roles and scopes callers need (the gateway checks them), when the action declares `auth`. */
  readonly auth?: ActionAuth | undefined;
  /** Marked deprecated: `true`, or what to use instead. */
  readonly deprecated?: Deprecation | undefined;
  /** Nodes that serve it now. */
  readonly nodeIDs: readonly string[];
}

/** An action as another node describes it. */
export interface ActionDescriptor {
  name: string;
  visibility: Visibility;
  rest: string[];
  timeout?: number | undefined;
  summary?: string | undefined;
  description?: string | undefined;
  params?: JSONSchema | undefined;
  result?: JSONSchema | undefined;
  /** Hash of the params schema: nodes serving one action with different schemas are flagged. */
  schemaHash?: string | undefined;
  /** Safe to retry (callers' retry middleware reads it). */
  idempotent?: boolean | undefined;
  /** Roles and scopes callers need: the gateway enforces them for HTTP requests. */
  auth?: ActionAuth | undefined;
  /** Marked deprecated: `true`, or what to use instead (`flotilla actions` shows it). */
  deprecated?: Deprecation | undefined;
}

/** How an action or event handler is marked deprecated: `true`, or what to use instead. */
export type Deprecation = true | string;

/** A service as another node describes it. */
export interface ServiceDescriptor {
  name: string;
  version?: string | number | undefined;
  fullName: string;
  actions: ActionDescriptor[];
  events: {
    event: string;
    group: string;
    durable?: boolean | undefined;
    deprecated?: Deprecation | undefined;
    /** JSON Schema of the payload the handler accepts, when it declares one. */
    params?: JSONSchema | undefined;
  }[];
  metadata?: Record<string, unknown> | undefined;
  /** Full names of the services it depends on (its likely callers' targets, for contracts). */
  dependencies?: string[] | undefined;
  /** Payload schemas of the events it declares it emits (`emits`). */
  emits?: Record<string, JSONSchema> | undefined;
}

/** What a node says it offers (the body of its INFO packet): the catalogue is built from these. */
export interface NodeAnnouncement {
  /** The announcing node's ID. */
  sender: string;
  /** New on every start: a node restarted under the same ID is told apart from its old self. */
  instanceID: string;
  /** Increases with every change of the node's services. */
  seq: number;
  hostname: string;
  /** Only services that have started are announced. */
  services: ServiceDescriptor[];
  client: { type: "flotilla"; version: string };
}
