import { defineService } from "../service/define.js";
import type { AnyServiceDefinition } from "../service/types.js";
import { type DeprecatedUse, type DeprecationLog, deprecationOf } from "./deprecations.js";

/**
 * The internal service a node runs once it serves a deprecated action or event handler: its one
 * action, `$deprecations.usage`, answers with the callers this node counted, so a client of the
 * cluster (`flotilla contracts deprecated`) can ask every node that has something to tell. Nodes
 * without deprecated members never run it. Listings hide `$` services.
 */
export const DEPRECATIONS_SERVICE = "$deprecations";

/** The action other nodes call: `{ nodeID, deprecated }` of the node that answers. */
export const DEPRECATIONS_ACTION = `${DEPRECATIONS_SERVICE}.usage`;

/** What `$deprecations.usage` answers. */
export interface NodeDeprecations {
  readonly nodeID: string;
  readonly deprecated: readonly DeprecatedUse[];
}

/** Whether a definition marks any of its actions or event handlers deprecated. */
export function declaresDeprecated(definition: AnyServiceDefinition): boolean {
  const members = [definition.actions, definition.events] as unknown[];
  return members.some(
    (group) =>
      typeof group === "object" &&
      group !== null &&
      Object.values(group).some(
        (member) =>
          typeof member === "object" &&
          member !== null &&
          deprecationOf((member as { deprecated?: unknown }).deprecated) !== undefined,
      ),
  );
}

/**
 * The `$deprecations` service of a node, answering from `log`.
 *
 * @example
 * ```ts
 * if (declaresDeprecated(definition)) broker.createService(deprecationsService(log));
 * ```
 */
export function deprecationsService(log: DeprecationLog): AnyServiceDefinition {
  return defineService({
    name: DEPRECATIONS_SERVICE,
    actions: {
      usage: {
        summary: "Callers of this node's deprecated actions and event handlers",
        handler: (ctx): NodeDeprecations => ({
          nodeID: ctx.broker.nodeID,
          deprecated: log.list(),
        }),
      },
    },
  });
}
