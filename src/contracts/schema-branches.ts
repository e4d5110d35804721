// A JSON Schema as the compatibility rules read it: a list of branches, one per JSON type it
// allows (`type: ["string", "null"]`, `anyOf`, `oneOf`, `nullable`, enums of mixed values all
// become branches), each with the keywords that constrain that type. Local `$ref`s are
// resolved against the document's root. Two schemas are then compared branch by branch of the
// same type (schema-diff.ts).

/** A JSON Schema node: an object of keywords, or `true` / `false`. */
export type SchemaNode = Record<string, unknown> | boolean;

/** The JSON types; `integer` is compared as a kind of `number`. */
export type JsonType = "null" | "boolean" | "object" | "array" | "number" | "integer" | "string";

/** One way a value may look: a JSON type (or any) and the keywords that constrain it. */
export interface Branch {
  readonly type: JsonType | "any";
  readonly schema: Record<string, unknown>;
}

const TYPES: readonly JsonType[] = [
  "null",
  "boolean",
  "object",
  "array",
  "number",
  "integer",
  "string",
];

/** Keywords that say which type a schema without `type` is about. */
const IMPLIED: readonly [JsonType, readonly string[]][] = [
  ["object", ["properties", "required", "additionalProperties", "propertyNames"]],
  ["array", ["items", "prefixItems", "minItems", "maxItems", "uniqueItems"]],
  ["string", ["minLength", "maxLength", "pattern", "format"]],
  ["number", ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]],
];

/** The group two branches must share to be compared: `integer` goes with `number`. */
export function groupOf(type: Branch["type"]): string {
  return type === "integer" ? "number" : type;
}

/** `a string`, `an object`, `null`, `any value`: a type as the report says it. */
export function typeName(type: Branch["type"] | string): string {
  if (type === "null") return "null";
  if (type === "any") return "any value";
  if (type === "array" || type === "object" || type === "integer") return `an ${type}`;
  return `a ${type}`;
}

/** The JSON type of a value (integers count as numbers). */
export function typeOfValue(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const t = typeof value;
  if (t === "boolean" || t === "string" || t === "object") return t;
  return "number";
}

/**
 * Resolves a local `$ref` (`#`, `#/$defs/Name`, `#/definitions/Name`, any JSON Pointer into the
 * root). `undefined` when it points elsewhere (another document): the caller treats the node
 * as opaque.
 */
export function resolveRef(root: SchemaNode, ref: string): SchemaNode | undefined {
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === "object" || typeof node === "boolean"
    ? (node as SchemaNode | undefined)
    : undefined;
}

/**
 * The branches of a schema node. `false` has none (nothing is valid); `true`, `{}` and a node
 * with only keywords the rules do not know have one of type `any`. `seen` guards `$ref` cycles.
 */
export function branchesOf(
  node: SchemaNode | undefined,
  root: SchemaNode,
  seen: ReadonlySet<string> = new Set(),
): Branch[] {
  if (node === undefined || node === true) return [{ type: "any", schema: {} }];
  if (node === false) return [];
  const { $ref, anyOf, oneOf, allOf, ...rest } = node;
  if (typeof $ref === "string") {
    // A cycle, or a chain of references longer than any real schema has, is not followed.
    const target = seen.has($ref) || seen.size >= 32 ? undefined : resolveRef(root, $ref);
    // An unresolvable or cyclic reference stays as it is: compared by its text.
    if (target === undefined) return [{ type: "any", schema: { ...rest, $ref } }];
    const merged = target === true || target === false ? target : { ...target, ...rest };
    return branchesOf(merged, root, new Set([...seen, $ref]));
  }
  if (Array.isArray(allOf) && allOf.length === 1 && isNode(allOf[0])) {
    const only = allOf[0];
    return branchesOf(typeof only === "boolean" ? only : { ...rest, ...only }, root, seen);
  }
  if (allOf !== undefined) rest.allOf = allOf;
  const alternatives = Array.isArray(anyOf) ? anyOf : Array.isArray(oneOf) ? oneOf : undefined;
  if (alternatives !== undefined) {
    if (Array.isArray(anyOf) && oneOf !== undefined) rest.oneOf = oneOf;
    return alternatives
      .filter(isNode)
      .flatMap((alt) =>
        branchesOf(typeof alt === "boolean" ? alt : { ...rest, ...alt }, root, seen),
      );
  }
  return splitByType(rest);
}

function isNode(value: unknown): value is SchemaNode {
  return typeof value === "boolean" || (typeof value === "object" && value !== null);
}

/** One branch per type the node allows, each with the enum values of that type. */
function splitByType(node: Record<string, unknown>): Branch[] {
  const { type, nullable, const: constant, enum: values, ...keywords } = node;
  const allowed = Object.hasOwn(node, "const")
    ? [constant]
    : Array.isArray(values)
      ? values
      : undefined;
  let types: JsonType[];
  if (typeof type === "string" || Array.isArray(type)) {
    types = [type].flat().filter((t): t is JsonType => TYPES.includes(t as JsonType));
  } else if (allowed !== undefined) {
    types = [...new Set(allowed.map(typeOfValue))];
  } else {
    const implied = IMPLIED.filter(([, words]) => words.some((w) => Object.hasOwn(keywords, w)));
    // `nullable` adds nothing to a schema of any type: any value includes null.
    if (implied.length !== 1) return [{ type: "any", schema: keywords }];
    types = [implied[0]![0]];
  }
  if (nullable === true && !types.includes("null")) types.push("null");
  return types.map((t) => {
    const schema: Record<string, unknown> = { ...keywords };
    if (allowed !== undefined) {
      schema.enum = allowed.filter(
        (v) => groupOf(typeOfValue(v)) === groupOf(t) && (t !== "integer" || Number.isInteger(v)),
      );
    }
    return { type: t, schema };
  });
}
