import type { StandardJSONSchemaV1 } from "@standard-schema/spec";

/** A JSON Schema document (draft 2020-12, the dialect of OpenAPI 3.1). */
export type JSONSchema = Record<string, unknown>;

/**
 * The JSON Schema of a Standard Schema that can describe itself (Standard JSON Schema: zod 4,
 * arktype, ...), for OpenAPI documents and the registry. `undefined` when the library cannot.
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
