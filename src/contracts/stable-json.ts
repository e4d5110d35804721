/**
 * JSON with sorted keys: the same value always gives the same text, so snapshot files diff
 * cleanly in review and two schemas can be compared by their text.
 *
 * @example
 * ```ts
 * stableStringify({ b: 1, a: [2, { d: 3, c: 4 }] }); // '{"a":[2,{"c":4,"d":3}],"b":1}'
 * ```
 */
export function stableStringify(value: unknown, indent?: number): string {
  return JSON.stringify(sortKeys(value), null, indent) ?? "null";
}

/** A copy of `value` whose objects list their keys in sorted order (arrays keep theirs). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) out[key] = sortKeys(item);
  }
  return out;
}

/** Whether two JSON values are equal, whatever the order of their keys. */
export function sameJSON(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}

/**
 * Whether two JSON values are equal (keys in any order), looking at most `depth` levels down: a
 * value nested deeper counts as different, so a hostile value costs a bounded walk. With
 * `refs: false`, a `$ref` anywhere makes the values count as different (they may point into
 * different documents).
 */
export function equalJSON(a: unknown, b: unknown, depth = 64, refs = true): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (depth <= 0 || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((v, i) => equalJSON(v, other[i], depth - 1, refs));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x).filter((k) => x[k] !== undefined);
  if (keys.length !== Object.keys(y).filter((k) => y[k] !== undefined).length) return false;
  for (const key of keys) {
    if (!refs && key === "$ref") return false;
    if (!Object.hasOwn(y, key) || !equalJSON(x[key], y[key], depth - 1, refs)) return false;
  }
  return true;
}
