import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";

/** A JSON Schema document (draft 2020-12, the dialect of OpenAPI 3.1). */
export type JSONSchema = Record<string, unknown>;

/**
 * The JSON Schema of a Standard Schema that can describe itself (Standard JSON Schema: zod 4,
 * arktype, ...), for OpenAPI documents and the registry. `undefined` when the library cannot:
 * then {@link jsonSchemaGap} names it, and the broker warns at `createService`.
 *
 * @example
 * ```ts
 * toJSONSchema(z.object({ id: z.number() })); // { type: "object", properties: { id: ... } }
 * ```
 */
export function toJSONSchema(
  schema: unknown,
  io: "input" | "output" = "input",
): JSONSchema | undefined {
  const converter = (schema as Partial<StandardJSONSchemaV1> | undefined)?.["~standard"]
    ?.jsonSchema;
  if (converter === undefined) return undefined;
  try {
    const { $schema: _dialect, ...rest } = converter[io]({ target: "draft-2020-12" });
    return rest;
  } catch {
    return undefined;
  }
}

/**
 * The JSON Schema of an action's result: its `returns` schema as handlers write it (a result is
 * checked, never transformed, so callers get the input side), else the documentation-only
 * `result` schema as it validates. `undefined` when neither can describe itself.
 *
 * @example
 * ```ts
 * resultJSONSchema({ returns: z.object({ id: z.number() }) }); // { type: "object", ... }
 * ```
 */
export function resultJSONSchema(def: {
  returns?: unknown;
  result?: unknown;
}): JSONSchema | undefined {
  if (def.returns !== undefined) return toJSONSchema(def.returns, "input");
  return toJSONSchema(def.result, "output");
}

/**
 * The library (Standard Schema `vendor`) of a schema that validates but cannot describe itself as
 * JSON Schema (valibot, for one), else `undefined`. Such a schema still validates; it is missing
 * from OpenAPI and the registry until it is wrapped with {@link withJSONSchema}.
 *
 * @example
 * ```ts
 * jsonSchemaGap(v.object({ id: v.number() })); // "valibot"
 * jsonSchemaGap(z.object({ id: z.number() })); // undefined
 * ```
 */
export function jsonSchemaGap(schema: unknown): string | undefined {
  const standard = (schema as Partial<StandardSchemaV1> | undefined)?.["~standard"];
  if (standard === undefined || toJSONSchema(schema) !== undefined) return undefined;
  return typeof standard.vendor === "string" ? standard.vendor : "unknown";
}

/**
 * Gives a Standard Schema the JSON Schema of a converter, for libraries that do not implement
 * Standard JSON Schema (e.g. valibot with `@valibot/to-json-schema`). The schema validates as
 * before; OpenAPI and the registry describe it with `jsonSchema` (one for input and output, or
 * `{ input, output }` when a transform makes them differ).
 *
 * @example
 * ```ts
 * import { toJsonSchema } from "@valibot/to-json-schema";
 * const Params = v.object({ id: v.number() });
 * const params = withJSONSchema(Params, toJsonSchema(Params));
 * ```
 */
export function withJSONSchema<S extends StandardSchemaV1>(
  schema: S,
  jsonSchema: JSONSchema | { input: JSONSchema; output: JSONSchema },
): S & StandardJSONSchemaV1<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>> {
  const pair =
    "input" in jsonSchema && "output" in jsonSchema
      ? (jsonSchema as { input: JSONSchema; output: JSONSchema })
      : { input: jsonSchema, output: jsonSchema };
  const standard = {
    ...schema["~standard"],
    // Every call returns a copy: callers may change what they get.
    jsonSchema: {
      input: () => structuredClone(pair.input),
      output: () => structuredClone(pair.output),
    },
  };
  // The wrapper keeps the original's prototype (methods, brands) and only replaces `~standard`.
  return Object.create(schema, { "~standard": { value: standard, enumerable: true } });
}
