// The pieces schema-diff.ts reads schemas with: which keywords it compares or ignores, numeric
// bounds with their exclusivity, and small accessors that tolerate any JSON where a schema was
// expected (a snapshot file is a stranger's input).
import { type Branch, type SchemaNode, typeName, typeOfValue } from "./schema-branches.js";

/** Keywords that do not change which values are valid. */
export const IGNORED = new Set([
  "title",
  "description",
  "examples",
  "default",
  "$comment",
  "$schema",
  "$id",
  "id",
  "$anchor",
  "$dynamicAnchor",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$defs",
  "definitions",
  "contentEncoding",
  "contentMediaType",
  "contentSchema",
]);

/** Keywords the rules compare structurally; any other one is compared by its text. */
export const COMPARED = new Set([
  "enum",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "minProperties",
  "maxProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
]);

export interface Bound {
  value: number;
  exclusive: boolean;
}

export function bound(value: number | undefined): Bound | undefined {
  return value === undefined ? undefined : { value, exclusive: false };
}

/** The tighter of `minimum` and `exclusiveMinimum` (a number in 2020-12, a flag in draft 4). */
export function lowerOf(s: Record<string, unknown>): Bound | undefined {
  return tightest(num(s.minimum), s.exclusiveMinimum, 1);
}

export function upperOf(s: Record<string, unknown>): Bound | undefined {
  return tightest(num(s.maximum), s.exclusiveMaximum, -1);
}

function tightest(
  inclusive: number | undefined,
  exclusive: unknown,
  sign: 1 | -1,
): Bound | undefined {
  if (exclusive === true && inclusive !== undefined) return { value: inclusive, exclusive: true };
  const ex = num(exclusive);
  if (ex === undefined) return bound(inclusive);
  if (inclusive === undefined || sign * (ex - inclusive) >= 0)
    return { value: ex, exclusive: true };
  return bound(inclusive);
}

export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function refOf(node: SchemaNode): string {
  return typeof node === "object" && typeof node.$ref === "string" ? node.$ref : "";
}

export function nodeOf(value: unknown): SchemaNode {
  if (typeof value === "boolean") return value;
  if (typeof value === "object" && value !== null && !Array.isArray(value))
    return value as Record<string, unknown>;
  return true;
}

export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

export function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

export function schemaAt(props: Record<string, unknown>, key: string): SchemaNode {
  return Object.hasOwn(props, key) ? nodeOf(props[key]) : true;
}

export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

export function listTypes(branches: readonly Branch[]): string {
  if (branches.length === 0) return "nothing";
  return [...new Set(branches.map((b) => typeName(b.type)))].join(" or ");
}

export function values(list: readonly unknown[]): string {
  const shown = list
    .slice(0, 5)
    .map((v) => (typeOfValue(v) === "string" ? `'${v}'` : JSON.stringify(v)));
  return shown.join(", ") + (list.length > 5 ? `, and ${list.length - 5} more` : "");
}
