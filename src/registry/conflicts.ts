import type { ServiceDescriptor } from "./catalog.js";

/**
 * How two nodes' definitions of one service version differ: actions only one of them offers,
 * and actions both offer with different params schemas (by `schemaHash`).
 */
export interface ServiceDifference {
  onlyFirst: string[];
  onlySecond: string[];
  schemas: string[];
}

/** What the `$services.conflict` internal event carries. */
export interface ServiceConflict {
  /** The service's full name (`v2.users`). */
  service: string;
  /** The two nodes that announce different definitions. */
  nodeIDs: [string, string];
  /** Actions only that node offers, by node ID. */
  onlyOn: Record<string, string[]>;
  /** Actions both offer with different params schemas. */
  schemas: string[];
}

/**
 * Compares two announcements of the same service version; `undefined` when they agree. Calls
 * routed to either node then behave differently, which a cluster should hear about.
 *
 * @example
 * ```ts
 * const diff = compareServices(mathOnNodeA, mathOnNodeB);
 * if (diff) console.warn(diff.onlyFirst, diff.onlySecond, diff.schemas);
 * ```
 */
export function compareServices(
  a: ServiceDescriptor,
  b: ServiceDescriptor,
): ServiceDifference | undefined {
  const hashes = new Map(a.actions.map((x) => [x.name, x.schemaHash]));
  const names = new Set(b.actions.map((x) => x.name));
  const onlyFirst = a.actions.map((x) => x.name).filter((n) => !names.has(n));
  const onlySecond = b.actions.map((x) => x.name).filter((n) => !hashes.has(n));
  const schemas = b.actions
    .filter((x) => hashes.has(x.name) && hashes.get(x.name) !== x.schemaHash)
    .map((x) => x.name);
  if (onlyFirst.length + onlySecond.length + schemas.length === 0) return undefined;
  return { onlyFirst: onlyFirst.sort(), onlySecond: onlySecond.sort(), schemas: schemas.sort() };
}

/** A one-line description for logs: `only on a: math.sub; different params: math.add`. */
export function describeConflict(c: ServiceConflict): string {
  const parts = Object.entries(c.onlyOn)
    .filter(([, actions]) => actions.length > 0)
    .map(([node, actions]) => `only on '${node}': ${actions.join(", ")}`);
  if (c.schemas.length > 0) parts.push(`different params: ${c.schemas.join(", ")}`);
  return parts.join("; ");
}
