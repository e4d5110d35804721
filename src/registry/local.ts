import type { Service } from "../service/service.js";
import type { ActionDefinition, Context, EventDefinition, Visibility } from "../service/types.js";

/** Runs one call on this node; may return a value or a promise. */
export type ActionHandler = (ctx: Context<unknown>) => unknown;

/** Runs one event delivery on this node. */
export type EventHandler = (ctx: Context<unknown>) => unknown;

/** An action served by this node. */
export interface LocalAction {
  /** The name it is called under, e.g. `v2.users.get`. */
  readonly name: string;
  readonly service: Service;
  readonly definition: ActionDefinition<unknown, unknown, unknown>;
  readonly visibility: Visibility;
  /** The handler as written. */
  readonly raw: ActionHandler;
  /** The handler wrapped by every middleware: what calls run. */
  handler: ActionHandler;
}

/** An event handler of a service on this node. */
export interface LocalListener {
  /** The event name or pattern (`orders.*`, `**`). */
  readonly event: string;
  /** The balancing group. */
  readonly group: string;
  readonly service: Service;
  readonly definition: EventDefinition<unknown>;
  readonly raw: EventHandler;
  handler: EventHandler;
}
