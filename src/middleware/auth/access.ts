import { ForbiddenError, UnauthorizedError } from "../../errors/index.js";
import type { ActionAuth } from "../../service/types.js";

/** The roles and scopes of a caller, read from its identity (`ctx.meta.user`). */
export interface Grants {
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
}

/** What an action requires, normalized: lists of strings, `undefined` when it requires nothing. */
export interface Requirement {
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly enforce: "gateway" | "always";
}

/**
 * Normalizes an action's `auth` (from a local definition or another node's announcement, so it
 * is checked here rather than trusted): `undefined` when it asks for no role and no scope.
 *
 * @example
 * ```ts
 * requirementOf({ roles: ["admin"] }); // { roles: ["admin"], scopes: [], enforce: "gateway" }
 * ```
 */
export function requirementOf(auth: ActionAuth | undefined): Requirement | undefined {
  if (auth === undefined || auth === null || typeof auth !== "object") return undefined;
  const roles = strings(auth.roles);
  const scopes = strings(auth.scopes);
  if (roles.length === 0 && scopes.length === 0) return undefined;
  return { roles, scopes, enforce: auth.enforce === "always" ? "always" : "gateway" };
}

/**
 * The roles and scopes of a user object as tokens carry them: `roles` (a list) or `role` (one);
 * `scopes` (a list), `scope` (space-separated, RFC 9068) or `scp` (a list or a string).
 * Anything that is not a string is ignored.
 *
 * @example
 * ```ts
 * grantsOf({ sub: "7", role: "admin", scope: "orders:read orders:write" });
 * // { roles: ["admin"], scopes: ["orders:read", "orders:write"] }
 * ```
 */
export function grantsOf(user: unknown): Grants {
  if (typeof user !== "object" || user === null) return { roles: [], scopes: [] };
  const u = user as Record<string, unknown>;
  const roles = [...strings(u.roles), ...strings(u.role)];
  const scopes = [...strings(u.scopes), ...spaced(u.scope), ...spaced(u.scp)];
  return { roles, scopes };
}

/**
 * Refuses a caller that does not meet `requirement`: `UnauthorizedError` (401) without an
 * identity, `ForbiddenError` (403) when a role or scope is missing. The gateway and the
 * authorization middleware both decide with this one function.
 *
 * @example
 * ```ts
 * checkAccess({ roles: ["admin"], scopes: [], enforce: "always" }, ctx.meta.user, "users.remove");
 * ```
 */
export function checkAccess(requirement: Requirement, user: unknown, action: string): void {
  if (user === undefined || user === null) {
    throw new UnauthorizedError(`Calling '${action}' requires an authenticated caller.`, {
      data: { action },
    });
  }
  const grants = grantsOf(user);
  if (requirement.roles.length > 0 && !requirement.roles.some((r) => grants.roles.includes(r))) {
    throw new ForbiddenError(`Calling '${action}' requires one of the roles it names.`, {
      data: { action, roles: requirement.roles },
    });
  }
  const missing = requirement.scopes.filter((s) => !grants.scopes.includes(s));
  if (missing.length > 0) {
    throw new ForbiddenError(`Calling '${action}' requires scopes the caller lacks.`, {
      data: { action, scopes: missing },
    });
  }
}

function strings(value: unknown): string[] {
  if (typeof value === "string") return value === "" ? [] : [value];
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is string => typeof v === "string" && v !== "");
}

function spaced(value: unknown): string[] {
  if (typeof value === "string") return value.split(" ").filter((s) => s !== "");
  return strings(value);
}
