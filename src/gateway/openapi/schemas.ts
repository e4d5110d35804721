import type { JSONSchema } from "../../service/json-schema.js";

/**
 * Collects the reusable schemas of an OpenAPI document (`components.schemas`). Schemas from
 * the catalog are standalone JSON Schema documents: their `$ref`s point into their own root
 * (`#`, `#/$defs/x`), which would resolve against the OpenAPI document once embedded. Adopting a
 * schema moves its `$defs` into the components under a prefixed name and rewrites every such
 * `$ref` to point there.
 *
 * @example
 * ```ts
 * const components = new SchemaComponents();
 * const schema = components.adopt(info.params, "users.get.params");
 * // schema.properties.tree.$ref === "#/components/schemas/users.get.params.__schema0"
 * ```
 */
export class SchemaComponents {
  readonly schemas: Record<string, JSONSchema> = {};

  /** Registers a fixed schema under `name` and returns a `$ref` to it. */
  define(name: string, schema: JSONSchema): JSONSchema {
    this.schemas[name] = schema;
    return { $ref: refTo(name) };
  }

  /**
   * Returns `schema` ready to embed (a rewritten copy); its definitions, and the schema itself
   * when it refers to its own root, land in `schemas` under `name`.
   */
  adopt(schema: JSONSchema, name: string): JSONSchema {
    const base = componentName(name);
    const { $defs, ...root } = schema;
    let selfReferenced = false;
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite);
      if (typeof value !== "object" || value === null) return value;
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value)) {
        if (key === "$ref" && typeof child === "string") out[key] = rewriteRef(child);
        else out[key] = rewrite(child);
      }
      return out;
    };
    const rewriteRef = (ref: string): string => {
      if (ref === "#") {
        selfReferenced = true;
        return refTo(base);
      }
      const def = /^#\/\$defs\/(.+)$/.exec(ref);
      if (def !== null) return refTo(`${base}.${componentName(decodePointer(def[1]!))}`);
      return ref;
    };
    if (isObject($defs)) {
      for (const [defName, def] of Object.entries($defs)) {
        this.schemas[`${base}.${componentName(defName)}`] = rewrite(def) as JSONSchema;
      }
    }
    const adopted = rewrite(root) as JSONSchema;
    if (selfReferenced) this.schemas[base] = adopted;
    return adopted;
  }
}

/** `#/components/schemas/<name>`. */
export function refTo(name: string): string {
  return `#/components/schemas/${name}`;
}

/** Component names may hold letters, digits, `.`, `-` and `_` only. */
export function componentName(name: string): string {
  return name.replace(/[^\w.-]/g, "_");
}

function decodePointer(segment: string): string {
  return decodeURIComponent(segment).replace(/~1/g, "/").replace(/~0/g, "~");
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
