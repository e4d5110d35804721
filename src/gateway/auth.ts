import type { FastifyRequest } from "fastify";
import type { Meta } from "../service/call-types.js";
import { ForbiddenError, UnauthorizedError } from "./errors.js";
import { securityOf } from "./openapi/security.js";
import type { GatewayRoute } from "./route-table.js";

/**
 * Runs a route's `authenticate` then `authorize` hooks and returns the call's meta: `{ user }`
 * when someone was authenticated, else `undefined`. An `authorize` that answers `false` refuses
 * with 401 when nobody is logged in (log in first) and 403 otherwise (logged in, not allowed).
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
      const scheme = securityOf(route.authenticate)?.scheme;
      const challenge =
        scheme?.type === "http" && typeof scheme.scheme === "string"
          ? capitalize(scheme.scheme)
          : undefined;
      throw new UnauthorizedError(
        "Authentication required.",
        challenge === undefined ? {} : { challenge },
      );
    }
  }
  return anonymous ? undefined : { user };
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
