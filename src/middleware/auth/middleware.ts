import type { Context } from "../../service/types.js";
import type { Middleware } from "../hooks.js";
import { checkAccess, requirementOf } from "./access.js";

/**
 * Checks the caller's identity (`ctx.meta.user`) on every call of an action declared with
 * `auth: { ..., enforce: "always" }`, on the action's own node: from the gateway, from another
 * service, from this node or another one alike. A call without identity is refused with 401,
 * one without a required role or scope with 403, before params are validated. Actions without
 * such a declaration are not wrapped and pay nothing. The broker installs it.
 *
 * Meta that arrives from another node is believed: nodes of a cluster trust each other (see
 * docs/security.md), so turn on transport authentication before relying on this.
 *
 * @example
 * ```ts
 * defineService({ name: "users", actions: {
 *   remove: { auth: { roles: ["admin"], enforce: "always" }, handler: (ctx) => drop(ctx.params) },
 * } });
 * ```
 */
export function authorizationMiddleware(): Middleware {
  return {
    name: "authorization",
    localAction(next, action) {
      const requirement = requirementOf(action.definition.auth);
      if (requirement === undefined || requirement.enforce !== "always") return next;
      const name = action.name;
      return (ctx: Context<unknown>) => {
        checkAccess(requirement, ctx.meta.user, name);
        return next(ctx);
      };
    },
  };
}
