import { HttpEdgeError } from "./errors.js";

type Bag = Record<string, unknown>;

/**
 * The params of an action call: the query string, then the JSON (or form) body, then the path
 * parameters, later sources winning on equal keys. Path parameters win because they name the
 * resource (`PUT /users/7` with `{"id": 8}` in the body still updates user 7). Values from the
 * path and the query are strings; the action's schema coerces them (`z.coerce.number()`).
 *
 * @example
 * ```ts
 * mergeParams({ q: "x" }, { name: "Ada" }, { id: "7" }); // { q: "x", name: "Ada", id: "7" }
 * ```
 */
export function mergeParams(
  query: unknown,
  body: unknown,
  path: Record<string, string> | undefined,
): Bag {
  const hasBody = body !== undefined && body !== null;
  if (hasBody && (typeof body !== "object" || Array.isArray(body) || Buffer.isBuffer(body))) {
    throw new HttpEdgeError("The request body must be a JSON object.", "INVALID_BODY", 400);
  }
  const q = (query ?? undefined) as Bag | undefined;
  // Most requests have one source only: hand it over without copying.
  if (!hasBody && path === undefined) return q ?? {};
  if (path === undefined && isEmpty(q)) return body as Bag;
  const params: Bag = {};
  if (q !== undefined) copy(params, q);
  if (hasBody) copy(params, body as Bag);
  if (path !== undefined) copy(params, path);
  return params;
}

function isEmpty(bag: Bag | undefined): boolean {
  if (bag === undefined) return true;
  for (const _ in bag) return false;
  return true;
}

function copy(target: Bag, source: Bag): void {
  for (const key in source) {
    // A "__proto__" key from a query string would otherwise replace the prototype on assignment.
    if (key === "__proto__") continue;
    target[key] = source[key];
  }
}
