import type { FastifyRequest } from "fastify";
import { checkAccess } from "../middleware/auth/access.js";
import type { Meta } from "../service/call-types.js";
import { ForbiddenError, UnauthorizedError } from "./errors.js";
import { securityOf } from "./openapi/security.js";
import type { GatewayRoute } from "./route-table.js";

/**
 * Runs a route's `authenticate` hook, checks the roles and scopes its action declares (`auth`),
 * then runs `authorize`, and returns the call's meta: `{ user }` when someone was authenticated,
 * else `undefined`. Refusals are 401 when nobody is logged in (log in first) and 403 otherwise
 * (logged in, not allowed). The meta is built here from the verified user only: nothing the
 * HTTP client sends (headers, query, body) reaches `ctx.meta`.
 *
 * @example
 * ```ts
 * const meta = await authorizeRequest(route, request, params, "GET");
 * await broker.call(route.action, params, { meta });
 * ```
 */
export async function authorizeRequest(
  route: GatewayRoute,
  request: FastifyRequest,
  params: Record<string, unknown>,
  method: string,
): Promise<Meta | undefined> {
  const user = route.authenticate === undefined ? undefined : await route.authenticate(request);
  const anonymous = user === undefined || user === null;
  if (route.access !== undefined) {
    if (anonymous) throw unauthorized(route);
    checkAccess(route.access, user, route.action);
  }
  if (route.authorize !== undefined) {
    const verdict = await route.authorize(user, {
      action: route.action,
      method,
      route: route.pattern.path,
      params,
      request,
    });
    if (verdict === false) {
      if (!anonymous)
        throw new ForbiddenError(`Not allowed to call ${method} ${route.pattern.path}.`);
      throw unauthorized(route);
    }
  }
  return anonymous ? undefined : { user };
}

/** A 401 with the challenge of the route's scheme (`Bearer` for `jwtAuth`), when it has one. */
function unauthorized(route: GatewayRoute): UnauthorizedError {
  const scheme = securityOf(route.authenticate)?.scheme;
  const challenge =
    scheme?.type === "http" && typeof scheme.scheme === "string"
      ? capitalize(scheme.scheme)
      : undefined;
  return new UnauthorizedError(
    "Authentication required.",
    challenge === undefined ? {} : { challenge },
  );
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
