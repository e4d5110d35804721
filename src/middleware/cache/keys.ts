import { createHash } from "node:crypto";

// Cache keys: `<action>:<body>`, where the body is a stable text of the fields the action's
// `keys` name (all params by default). Stable: object keys are sorted, so `{a,b}` and `{b,a}`
// make one key. Collision-free: two different field lists never make the same text (the text is
// JSON extended with tokens JSON cannot contain, `undefined` and `12n`), and a body longer than
// HASH_ABOVE characters is replaced by `#` and its SHA-256, which no unhashed body starts with.

/** Bodies longer than this are hashed, so keys stay short in Redis and in memory. */
export const HASH_ABOVE = 96;
/** Deeper params are not cached (a cycle, or a hostile payload): the handler just runs. */
const MAX_DEPTH = 32;

/** A field a key is made of: a param (`"id"`, `"filter.page"`) or a meta field (`"#tenant"`). */
interface Field {
  readonly meta: boolean;
  readonly path: readonly string[];
}

/** What a key is read from: the validated params and the call's meta. */
export interface KeySource {
  readonly params: unknown;
  readonly meta: unknown;
}

/**
 * Makes the key function of one action: `keys` names the fields (`"id"`, `"user.id"`, `"#tenant"`
 * for `ctx.meta.tenant`); without `keys` the whole params object is the key. Throws
 * `RangeError` for params nested deeper than 32 levels (the caller then skips the cache).
 *
 * @example
 * ```ts
 * const keyOf = keyBuilder("products.get", ["id", "#tenant"]);
 * keyOf({ params: { id: 5, verbose: true }, meta: { tenant: "acme" } }); // 'products.get:[5,"acme"]'
 * ```
 */
export function keyBuilder(
  action: string,
  keys: readonly string[] | undefined,
): (source: KeySource) => string {
  const prefix = `${action}:`;
  if (keys === undefined) return (s) => prefix + bounded(stable(s.params, 0));
  const fields: Field[] = keys.map((k) =>
    k.startsWith("#")
      ? { meta: true, path: k.slice(1).split(".") }
      : { meta: false, path: k.split(".") },
  );
  const only = fields.length === 1 ? fields[0] : undefined;
  if (only !== undefined && !only.meta && only.path.length === 1) {
    // The common case (`keys: ["id"]`): one param read, no array built.
    const name = only.path[0] ?? "";
    return (s) => prefix + bounded(stable((s.params as Record<string, unknown>)?.[name], 0));
  }
  return (s) => {
    let body = "[";
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (i > 0) body += ",";
      body += stable(read(f.meta ? s.meta : s.params, f.path), 0);
    }
    return prefix + bounded(`${body}]`);
  };
}

function read(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const part of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function bounded(body: string): string {
  return body.length > HASH_ABOVE
    ? `#${createHash("sha256").update(body).digest("base64url")}`
    : body;
}

/** JSON with sorted object keys, plus `undefined` and `<n>n` for what JSON cannot say. */
function stable(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      // Unlike JSON, NaN and Infinity stay apart from null (and from each other).
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `${value}n`;
    case "undefined":
    case "function":
    case "symbol":
      return "undefined";
  }
  if (value === null) return "null";
  if (depth >= MAX_DEPTH)
    throw new RangeError(`Cache key: params nested deeper than ${MAX_DEPTH}.`);
  const json = (value as { toJSON?: unknown }).toJSON;
  if (typeof json === "function") return stable(json.call(value), depth + 1);
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i > 0 ? "," : "") + stable(value[i], depth + 1);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const names = Object.keys(record).sort();
  let out = "{";
  let first = true;
  for (const name of names) {
    const item = record[name];
    if (item === undefined) continue; // as JSON: `{a: undefined}` is `{}`
    out += `${first ? "" : ","}${JSON.stringify(name)}:${stable(item, depth + 1)}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * The test of a clean pattern against action names, as Moleculer matches them: `*` stands for
 * any characters but `.` (one segment), `**` for any characters; anything else is literal.
 *
 * @example
 * ```ts
 * const m = patternMatcher("products.*");
 * m("products.get"); // true
 * m("products.admin.list"); // false: `products.**` matches it
 * ```
 */
export function patternMatcher(pattern: string): (action: string) => boolean {
  if (!pattern.includes("*")) return (action) => action === pattern;
  if (pattern === "**") return () => true;
  const source = pattern
    .split("**")
    .map((part) =>
      part
        .split("*")
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^.]*"),
    )
    .join(".*");
  const regex = new RegExp(`^${source}$`);
  return (action) => regex.test(action);
}

/**
 * The Redis `SCAN MATCH` glob that finds at least the actions `pattern` matches (its `*` also
 * crosses dots, so results are tested with {@link patternMatcher} again).
 */
export function redisGlob(pattern: string): string {
  return pattern
    .split("*")
    .map((s) => s.replace(/[?[\]\\*]/g, "\\$&"))
    .join("*")
    .replace(/\*+/g, "*");
}

/** The action part of a key (`products.get` of `products.get:[5]`). */
export function actionOf(key: string): string {
  const colon = key.indexOf(":");
  return colon < 0 ? key : key.slice(0, colon);
}
