/**
 * Shapes: what a consumer saw of a value (its types and fields, not the values), written as a
 * small subset of JSON Schema so a contract file reads like the schemas elsewhere. A provider's
 * real value matches a shape when every field the consumer saw is there with a compatible type;
 * fields the consumer never saw are free to come and go.
 */

/** A JSON value: what crosses the wire, and what contract files hold. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** The shape of a JSON value as a consumer saw it. */
export type Shape =
  | { readonly type: "null" | "boolean" | "number" | "string" }
  | { readonly type: "array"; readonly items?: Shape }
  | {
      readonly type: "object";
      readonly properties: { readonly [key: string]: Shape };
      /** Fields present every time (fields seen only in some items of a list are optional). */
      readonly required: readonly string[];
    }
  | { readonly anyOf: readonly Shape[] };

/** Where a value differs from the shape a consumer saw. */
export interface ShapeMismatch {
  /** The field: `price`, `items[0].sku`, or `""` for the value itself. */
  readonly path: string;
  /** `missing`: the consumer saw the field and it is gone; `type`: it has another type now. */
  readonly problem: "missing" | "type";
  /** What the consumer saw: `a number`, `an object`, ... */
  readonly expected: string;
  /** What the provider gives now (`nothing` when missing). */
  readonly actual: string;
}

/**
 * The value as it crosses the wire (JSON: dates become strings, `undefined` fields vanish), or
 * `undefined` when nothing would be sent.
 */
export function wireValue(value: unknown): JsonValue | undefined {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as JsonValue);
}

/**
 * The shape of a JSON value; several values (the items of a list, the results of several calls)
 * are combined with {@link mergeShapes}.
 *
 * @example
 * ```ts
 * shapeOf({ id: 1, tags: ["a"] });
 * // { type: "object", properties: { id: { type: "number" }, tags: { type: "array", items: { type: "string" } } }, required: ["id", "tags"] }
 * ```
 */
export function shapeOf(value: JsonValue): Shape {
  if (value === null) return { type: "null" };
  if (Array.isArray(value)) {
    let items: Shape | undefined;
    for (const item of value) {
      const shape = shapeOf(item);
      items = items === undefined ? shape : mergeShapes(items, shape);
    }
    return items === undefined ? { type: "array" } : { type: "array", items };
  }
  if (typeof value === "object") {
    const properties = fields();
    for (const key of Object.keys(value).sort()) {
      const field = value[key];
      if (field !== undefined) properties[key] = shapeOf(field);
    }
    return { type: "object", properties, required: Object.keys(properties) };
  }
  if (typeof value === "boolean") return { type: "boolean" };
  if (typeof value === "number") return { type: "number" };
  return { type: "string" };
}

/** One shape that both values fit: fields of objects merge, a field missing on one side is optional. */
export function mergeShapes(a: Shape, b: Shape): Shape {
  const members = [...alternatives(a)];
  for (const shape of alternatives(b)) {
    const i = members.findIndex((m) => kindOf(m) === kindOf(shape));
    const same = members[i];
    if (same === undefined) members.push(shape);
    else members[i] = mergeSameKind(same, shape);
  }
  const [only] = members;
  return members.length === 1 && only !== undefined ? only : { anyOf: members };
}

function mergeSameKind(a: Shape, b: Shape): Shape {
  if ("anyOf" in a || "anyOf" in b) return a;
  if (a.type === "array" && b.type === "array") {
    if (a.items === undefined) return b;
    if (b.items === undefined) return a;
    return { type: "array", items: mergeShapes(a.items, b.items) };
  }
  if (a.type === "object" && b.type === "object") {
    const properties = fields();
    const keys = [...new Set([...Object.keys(a.properties), ...Object.keys(b.properties)])].sort();
    for (const key of keys) {
      const left = a.properties[key];
      const right = b.properties[key];
      const merged =
        left === undefined ? right : right === undefined ? left : mergeShapes(left, right);
      if (merged !== undefined) properties[key] = merged;
    }
    const required = a.required.filter((key) => b.required.includes(key)).sort();
    return { type: "object", properties, required };
  }
  return a;
}

/** A field map without a prototype: a field called `__proto__` stays a field. */
function fields(): Record<string, Shape> {
  return Object.create(null) as Record<string, Shape>;
}

function alternatives(shape: Shape): readonly Shape[] {
  return "anyOf" in shape ? shape.anyOf : [shape];
}

function kindOf(shape: Shape): string {
  return "anyOf" in shape ? "anyOf" : shape.type;
}

/**
 * Where `value` (a provider's real answer, as JSON) no longer fits what the consumer saw. A field
 * the consumer saw as `null` told it nothing about its type, so any value (or none) fits there.
 *
 * @example
 * ```ts
 * compareShape({ id: 1 }, shapeOf({ id: 1, price: 9.5 }));
 * // [{ path: "price", problem: "missing", expected: "a number", actual: "nothing" }]
 * ```
 */
export function compareShape(
  value: JsonValue | undefined,
  shape: Shape,
  path = "",
): ShapeMismatch[] {
  if ("anyOf" in shape) {
    if (shape.anyOf.some((member) => compareShape(value, member, path).length === 0)) return [];
    if (value === undefined) return [missing(path, shape)];
    return [
      { path, problem: "type", expected: describeShape(shape), actual: describeValue(value) },
    ];
  }
  if (shape.type === "null") return [];
  if (value === undefined) return [missing(path, shape)];
  if (kindOfValue(value) !== shape.type) {
    return [
      { path, problem: "type", expected: describeShape(shape), actual: describeValue(value) },
    ];
  }
  if (shape.type === "array" && Array.isArray(value)) {
    const items = shape.items;
    if (items === undefined) return [];
    for (let i = 0; i < value.length; i++) {
      const found = compareShape(value[i], items, `${path}[${i}]`);
      // One item tells what changed; the rest would repeat it.
      if (found.length > 0) return found;
    }
    return [];
  }
  if (shape.type === "object" && isRecord(value)) {
    const found: ShapeMismatch[] = [];
    for (const [key, field] of Object.entries(shape.properties)) {
      const child = path === "" ? key : `${path}.${key}`;
      const present = value[key];
      if (present === undefined && !shape.required.includes(key)) continue;
      found.push(...compareShape(present, field, child));
    }
    return found;
  }
  return [];
}

/** What a shape stands for, in words: `a number`, `a list`, `a string or null`. */
export function describeShape(shape: Shape): string {
  if ("anyOf" in shape) return shape.anyOf.map(describeShape).join(" or ");
  return ARTICLE[shape.type];
}

/** What a value is, in the words of {@link describeShape}. */
export function describeValue(value: JsonValue): string {
  return ARTICLE[kindOfValue(value)];
}

const ARTICLE = {
  null: "null",
  boolean: "a boolean",
  number: "a number",
  string: "a string",
  array: "a list",
  object: "an object",
} as const;

function kindOfValue(value: JsonValue): keyof typeof ARTICLE {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as "boolean" | "number" | "string" | "object";
}

function missing(path: string, shape: Shape): ShapeMismatch {
  return { path, problem: "missing", expected: describeShape(shape), actual: "nothing" };
}

function isRecord(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
