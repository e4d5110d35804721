/** The methods a route may declare. `HEAD` is served by `GET` routes; `OPTIONS` is left to CORS. */
export const ROUTE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

export type RouteMethod = (typeof ROUTE_METHODS)[number];

/** A parsed `"GET /users/:id"`. */
export interface RoutePattern {
  method: RouteMethod;
  /** The normalized path, with the gateway prefix: `/api/users/:id`. */
  path: string;
  /** Path segments; `:name` marks a parameter. */
  segments: string[];
  /** Names of the path parameters, in order. */
  paramNames: string[];
}

/**
 * Parses a route declaration such as `"GET /users/:id"` (method, one space, path) and mounts it
 * under `prefix`. Returns a reason string when the declaration is malformed: catalog entries of
 * other nodes cannot be rejected at definition time, so the caller logs and skips them.
 *
 * @example
 * ```ts
 * parseRoute("GET /users/:id", "/api"); // { method: "GET", path: "/api/users/:id", paramNames: ["id"], ... }
 * ```
 */
export function parseRoute(declaration: string, prefix: string): RoutePattern | string {
  const match = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(declaration);
  if (match === null) return `expected "METHOD /path", got ${JSON.stringify(declaration)}`;
  const method = match[1]!.toUpperCase();
  if (!(ROUTE_METHODS as readonly string[]).includes(method)) {
    return `method ${method} is not one of ${ROUTE_METHODS.join(", ")}`;
  }
  const path = normalizePath(`${prefix}/${match[2]!}`);
  const segments = splitPath(path);
  const paramNames: string[] = [];
  for (const segment of segments) {
    if (!segment.startsWith(":")) continue;
    const name = segment.slice(1);
    if (!/^[A-Za-z_$][\w$]*$/.test(name))
      return `invalid path parameter ${JSON.stringify(segment)}`;
    if (paramNames.includes(name)) return `path parameter ":${name}" appears twice`;
    paramNames.push(name);
  }
  return { method: method as RouteMethod, path, segments, paramNames };
}

/** Collapses repeated slashes and drops a trailing one (`/users/` and `/users` are one route). */
export function normalizePath(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, "/");
  if (collapsed.length > 1 && collapsed.endsWith("/")) return collapsed.slice(0, -1);
  return collapsed.startsWith("/") ? collapsed : `/${collapsed}`;
}

/** `/a/b` → `["a", "b"]`; `/` → `[]`. */
export function splitPath(path: string): string[] {
  return path === "/" || path === "" ? [] : path.slice(1).split("/");
}

/** The OpenAPI form of a path: `/users/:id` → `/users/{id}`. */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z_$][\w$]*)/g, "{$1}");
}
