/**
 * Small checks of a stranger's data (a decoded packet, an announcement) against the shape the
 * code relies on. A check returns `undefined` when the value fits, else what is wrong, with the
 * path to it built on the way out — so a valid value costs no string work at all.
 *
 * @example
 * ```ts
 * const point = shape({ x: number(), y: number() });
 * point({ x: 1, y: "2" }); // ".y: expected a number"
 * ```
 */
export type Check = (value: unknown) => string | undefined;

/** Any value at all (user data: params, payloads; bounded by the serializer's depth limit). */
export const anything: Check = () => undefined;

/** A string of at most `max` UTF-16 units (at least one with `nonEmpty`). */
export function text(max: number, nonEmpty = false): Check {
  return (v) =>
    typeof v === "string" && v.length <= max && (!nonEmpty || v.length > 0)
      ? undefined
      : `: expected a ${nonEmpty ? "non-empty " : ""}string of at most ${max} characters`;
}

/** A finite number in `min..max` (an integer with `integer`). */
export function number(min = -Number.MAX_VALUE, max = Number.MAX_VALUE, integer = false): Check {
  return (v) =>
    typeof v === "number" &&
    Number.isFinite(v) &&
    v >= min &&
    v <= max &&
    (!integer || Number.isInteger(v))
      ? undefined
      : `: expected ${integer ? "an integer" : "a number"} in ${min}..${max}`;
}

export const boolean: Check = (v) => (typeof v === "boolean" ? undefined : ": expected a boolean");

/** One of a few literal values. */
export function oneOf(values: readonly unknown[]): Check {
  return (v) => (values.includes(v) ? undefined : `: expected one of ${values.join(", ")}`);
}

/** `undefined` (an absent field), or what `check` accepts. */
export function optional(check: Check): Check {
  return (v) => (v === undefined ? undefined : check(v));
}

/** `null`, or what `check` accepts. */
export function nullable(check: Check): Check {
  return (v) => (v === null ? undefined : check(v));
}

/** Either check. */
export function either(a: Check, b: Check): Check {
  return (v) => (a(v) === undefined ? undefined : b(v));
}

/** A plain object (not null, not an array), with any fields. */
export const object: Check = (v) => (isObject(v) ? undefined : ": expected an object");

/** An array of at most `max` items, each accepted by `item`. */
export function list(max: number, item: Check): Check {
  return (v) => {
    if (!Array.isArray(v)) return ": expected an array";
    if (v.length > max) return `: expected at most ${max} items, got ${v.length}`;
    for (let i = 0; i < v.length; i++) {
      const problem = item(v[i]);
      if (problem !== undefined) return `[${i}]${problem}`;
    }
    return undefined;
  };
}

/** An object of at most `max` fields, each value accepted by `value`. */
export function record(max: number, value: Check): Check {
  return (v) => {
    if (!isObject(v)) return ": expected an object";
    let count = 0;
    for (const key in v) {
      if (++count > max) return `: expected at most ${max} fields`;
      const problem = value(v[key]);
      // The key is a stranger's: only its start goes into the message.
      if (problem !== undefined) return `.${key.slice(0, 64)}${problem}`;
    }
    return undefined;
  };
}

/** An object with (at least) these fields; other fields are left alone. */
export function shape(fields: Record<string, Check>): Check {
  const entries = Object.entries(fields);
  return (v) => {
    if (!isObject(v)) return ": expected an object";
    for (const [key, check] of entries) {
      const problem = check(v[key]);
      if (problem !== undefined) return `.${key}${problem}`;
    }
    return undefined;
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
