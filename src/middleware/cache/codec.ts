import { CacheValueError } from "../../errors/cache.js";

// Cached values are kept as JSON text, in memory as in Redis: every hit parses a fresh copy (a
// caller that changes its result cannot change what the next caller gets), and a cached answer
// is what the same call from another node would get (a Date arrives as its ISO string). What
// JSON would silently drop or mangle is refused instead of cached wrong.

/** The text of `undefined`, which JSON has none for (no JSON text is empty). */
const UNDEFINED = "";

/**
 * The JSON text of a result, or a {@link CacheValueError} saying why it cannot be cached.
 *
 * @example
 * ```ts
 * encodeValue("products.get", { id: 1 }); // '{"id":1}'
 * encodeValue("products.get", new Map()); // CacheValueError: a Map ...
 * ```
 */
export function encodeValue(action: string, value: unknown): string | CacheValueError {
  if (value === undefined) return UNDEFINED;
  try {
    return JSON.stringify(value, strict) ?? UNDEFINED;
  } catch (err) {
    const reason = err instanceof Refused ? err.message : (err as Error).message;
    return new CacheValueError(action, reason);
  }
}

/** A fresh copy of a cached value. */
export function decodeValue(text: string): unknown {
  return text === UNDEFINED ? undefined : JSON.parse(text);
}

class Refused extends Error {}

function strict(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case "function":
      throw new Refused(`${where(key)} is a function`);
    case "symbol":
      throw new Refused(`${where(key)} is a symbol`);
    case "bigint":
      throw new Refused(`${where(key)} is a BigInt`);
    case "object":
      if (value instanceof Map || value instanceof Set) {
        throw new Refused(`${where(key)} is a ${value instanceof Map ? "Map" : "Set"}`);
      }
  }
  return value;
}

function where(key: string): string {
  return key === "" ? "the value" : `field '${key}'`;
}
