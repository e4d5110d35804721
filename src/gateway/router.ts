import { type RoutePattern, splitPath } from "./route-pattern.js";

/** Anything the router can hold: it only reads the pattern. */
export interface Routable {
  readonly pattern: RoutePattern;
}

/** A found route with its decoded path parameters (`undefined` when the route has none). */
export interface RouteMatch<R> {
  route: R;
  params: Record<string, string> | undefined;
}

interface Node<R> {
  literal: Map<string, Node<R>> | undefined;
  param: Node<R> | undefined;
  byMethod: Map<string, R> | undefined;
}

/** Thrown for a path parameter that is not valid percent-encoding; answered with 400. */
export class BadPathError extends Error {}

/**
 * An immutable route table built once per cluster change. Paths without parameters are one map
 * read; the rest walk a segment tree where literal segments win over parameters (so
 * `/users/me` beats `/users/:id`), backtracking when a literal branch dead-ends.
 *
 * @example
 * ```ts
 * const router = new Router([route]);
 * router.find("GET", "/users/7"); // { route, params: { id: "7" } }
 * ```
 */
export class Router<R extends Routable> {
  readonly #literal = new Map<string, Map<string, R>>();
  readonly #root: Node<R> = emptyNode();

  constructor(routes: Iterable<R>) {
    for (const route of routes) this.#add(route);
  }

  #add(route: R): void {
    const { method, path, paramNames, segments } = route.pattern;
    if (paramNames.length === 0) {
      let byPath = this.#literal.get(method);
      if (byPath === undefined) {
        byPath = new Map();
        this.#literal.set(method, byPath);
      }
      byPath.set(path, route);
    }
    // Every route also goes into the tree, which answers "which methods exist here?" for 405s.
    let node = this.#root;
    for (const segment of segments) {
      if (segment.startsWith(":")) {
        node.param ??= emptyNode();
        node = node.param;
        continue;
      }
      node.literal ??= new Map();
      let next = node.literal.get(segment);
      if (next === undefined) {
        next = emptyNode();
        node.literal.set(segment, next);
      }
      node = next;
    }
    node.byMethod ??= new Map();
    node.byMethod.set(method, route);
  }

  /** The route for `method` and a normalized `path`, or `undefined`. */
  find(method: string, path: string): RouteMatch<R> | undefined {
    const literal = this.#literal.get(method)?.get(path);
    if (literal !== undefined) return { route: literal, params: undefined };
    const values: string[] = [];
    const node = walk(this.#root, splitPath(path), 0, values, method);
    const route = node?.byMethod?.get(method);
    if (route === undefined) return undefined;
    const params: Record<string, string> = {};
    const names = route.pattern.paramNames;
    for (let i = 0; i < names.length; i++) params[names[i]!] = decode(values[i]!);
    return { route, params };
  }

  /** The methods routed at `path` (for the `Allow` header of a 405); empty when none. */
  methodsAt(path: string): string[] {
    const node = walk(this.#root, splitPath(path), 0, [], undefined);
    return node?.byMethod === undefined ? [] : [...node.byMethod.keys()];
  }
}

function emptyNode<R>(): Node<R> {
  return { literal: undefined, param: undefined, byMethod: undefined };
}

/** Depth-first: literal child first, then the parameter child. `method` undefined = any. */
function walk<R>(
  node: Node<R>,
  segments: readonly string[],
  index: number,
  values: string[],
  method: string | undefined,
): Node<R> | undefined {
  if (index === segments.length) {
    const ok = node.byMethod !== undefined && (method === undefined || node.byMethod.has(method));
    return ok ? node : undefined;
  }
  const segment = segments[index]!;
  const literal = node.literal?.get(segment);
  if (literal !== undefined) {
    const found = walk(literal, segments, index + 1, values, method);
    if (found !== undefined) return found;
  }
  if (node.param !== undefined && segment !== "") {
    values.push(segment);
    const found = walk(node.param, segments, index + 1, values, method);
    if (found !== undefined) return found;
    values.pop();
  }
  return undefined;
}

function decode(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw new BadPathError(`Path segment '${value}' is not valid percent-encoding.`);
  }
}
