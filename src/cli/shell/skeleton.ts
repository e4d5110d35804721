import type { JSONSchema } from "../../service/json-schema.js";

const MAX_DEPTH = 6;

/**
 * A value to start typing params from, made from an action's JSON Schema: each property with an
 * empty value of its type (`""`, `0`, `false`, `[]`, a nested object), its `default`, `const` or
 * first `enum` value when it has one. `undefined` when the schema says nothing useful.
 *
 * @example
 * ```ts
 * skeleton({ type: "object", properties: { name: { type: "string" }, age: { type: "number" } } });
 * // { name: "", age: 0 }
 * ```
 */
export function skeleton(schema: JSONSchema | undefined, depth = 0): unknown {
  if (schema === undefined || depth > MAX_DEPTH) return undefined;
  if ("default" in schema) return schema.default;
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const variants = (schema.anyOf ?? schema.oneOf) as JSONSchema[] | undefined;
  if (Array.isArray(variants)) {
    const useful = variants.find((v) => typeOf(v) !== "null") ?? variants[0];
    return skeleton(useful, depth + 1);
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    return skeleton(schema.allOf[0] as JSONSchema, depth + 1);
  }
  switch (typeOf(schema)) {
    case "object": {
      const properties = (schema.properties ?? {}) as Record<string, JSONSchema>;
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(properties)) {
        const value = skeleton(sub, depth + 1);
        out[key] = value === undefined ? null : value;
      }
      return out;
    }
    case "array":
      return [];
    case "string":
      return "";
    case "number":
    case "integer":
      return 0;
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      return undefined;
  }
}

/** The type a schema names (the first non-null one of a list), or `object` when it has properties. */
function typeOf(schema: JSONSchema): string | undefined {
  const t = schema.type;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return (t.find((x) => x !== "null") ?? t[0]) as string | undefined;
  return schema.properties === undefined ? undefined : "object";
}

/**
 * JSON on one line, spaced as people write it: `{"name": "", "age": 0}`.
 *
 * @example
 * ```ts
 * oneLine({ a: 1, b: [1, 2] }); // '{"a": 1, "b": [1, 2]}'
 * ```
 */
export function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const fields = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`);
    return `{${fields.join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
