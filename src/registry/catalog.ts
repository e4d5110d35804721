import type { JSONSchema } from "../service/json-schema.js";
import type { Visibility } from "../service/types.js";

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
  /** JSON Schema of the result, when the action declares `result`. */
  readonly result?: JSONSchema | undefined;
  /** Nodes that serve it now. */
  readonly nodeIDs: readonly string[];
}
