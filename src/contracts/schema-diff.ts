import { type Branch, branchesOf, groupOf, type SchemaNode, typeName } from "./schema-branches.js";
import {
  asRecord,
  asStrings,
  type Bound,
  bound,
  COMPARED,
  IGNORED,
  join,
  listTypes,
  lowerOf,
  nodeOf,
  num,
  refOf,
  schemaAt,
  upperOf,
  values,
} from "./schema-parts.js";
import { OPAQUE_SCHEMA } from "./snapshot.js";
import { equalJSON } from "./stable-json.js";

/**
 * Which side of the data the schema describes, which decides what breaks:
 * - `input`: what the other side sends and this schema accepts (action params, the payload a
 *   handler accepts). Narrowing it breaks the senders: what they sent may now be refused.
 * - `output`: what this side produces and the other reads (action results, emitted payloads).
 *   Widening it breaks the readers: they may now get what they were never told about.
 */
export type Direction = "input" | "output";

/** One difference between two schemas, and whether it breaks the other side. */
export interface SchemaChange {
  /** Where: `""` (the whole value), `coupon`, `items[].qty`, `tags[0]`, `labels.*` (other keys). */
  path: string;
  breaking: boolean;
  /** What changed, for the report. */
  why: string;
}

/** Deeper than this, schemas are not compared further (a fixed budget per comparison). */
const MAX_DEPTH = 64;

/**
 * Every difference between the schema a contract had (`before`) and has (`after`), each with
 * whether it breaks the other side given the data's {@link Direction}. `undefined` is "no
 * schema": any value.
 *
 * @example
 * ```ts
 * diffSchemas(
 *   { type: "object", properties: { coupon: { type: "string" } } },
 *   { type: "object", properties: { coupon: { type: "string" } }, required: ["coupon"] },
 *   "input",
 * ); // [{ path: "coupon", breaking: true, why: "became required (it was optional): ..." }]
 * ```
 */
export function diffSchemas(
  before: SchemaNode | undefined,
  after: SchemaNode | undefined,
  direction: Direction,
): SchemaChange[] {
  const differ = new Differ(direction, before ?? true, after ?? true);
  if (equalJSON(before, after, MAX_DEPTH)) return [];
  if (before === undefined && after === undefined) return [];
  if (before === undefined) {
    differ.narrowed(
      "",
      direction === "input"
        ? "now has a schema (it had none, anything was accepted)"
        : "now described by a schema (it had none)",
    );
  } else if (after === undefined) {
    differ.widened(
      "",
      direction === "input"
        ? "has no schema any more: anything is accepted"
        : "is no longer described by a schema: it may be anything",
    );
  } else differ.diff(before, after, "", 0);
  return differ.changes;
}

class Differ {
  readonly changes: SchemaChange[] = [];
  /** `$ref` pairs being compared now: a cycle (a tree of trees) ends there. */
  readonly #active: Set<string>;
  /** Equal roots: a `$ref` means the same on both sides, so equal nodes are equal values. */
  readonly #sameRoots: boolean;

  constructor(
    readonly direction: Direction,
    readonly rootBefore: SchemaNode,
    readonly rootAfter: SchemaNode,
    active = new Set<string>(),
  ) {
    this.#active = active;
    this.#sameRoots = equalJSON(rootBefore, rootAfter, MAX_DEPTH);
  }

  /** Fewer values are valid now: breaks senders of input. */
  narrowed(path: string, why: string): void {
    this.changes.push({ path, breaking: this.direction === "input", why });
  }

  /** More values are valid now: breaks readers of output. */
  widened(path: string, why: string): void {
    this.changes.push({ path, breaking: this.direction === "output", why });
  }

  /** A verdict that does not follow from narrowing or widening alone. */
  note(path: string, breaking: boolean, why: string): void {
    this.changes.push({ path, breaking, why });
  }

  get input(): boolean {
    return this.direction === "input";
  }

  diff(before: SchemaNode, after: SchemaNode, path: string, depth: number): void {
    if (depth > MAX_DEPTH) return;
    if (equalJSON(before, after, MAX_DEPTH - depth, this.#sameRoots)) return;
    const key = `${refOf(before)}|${refOf(after)}`;
    if (key !== "|") {
      if (this.#active.has(key)) return;
      this.#active.add(key);
    }
    try {
      this.branches(
        branchesOf(before, this.rootBefore),
        branchesOf(after, this.rootAfter),
        path,
        depth,
      );
    } finally {
      if (key !== "|") this.#active.delete(key);
    }
  }

  branches(before: Branch[], after: Branch[], path: string, depth: number): void {
    const anyBefore = before.find((b) => b.type === "any");
    const anyAfter = after.find((b) => b.type === "any");
    if (anyBefore && anyAfter) {
      this.others(anyBefore.schema, anyAfter.schema, path);
      return;
    }
    if (anyBefore) {
      this.narrowed(path, `was any value, now only ${listTypes(after)}`);
      return;
    }
    if (anyAfter) {
      this.widened(path, `now any value (was only ${listTypes(before)})`);
      return;
    }
    const groups = [...new Set([...before, ...after].map((b) => groupOf(b.type)))];
    for (const group of groups) {
      const olds = before.filter((b) => groupOf(b.type) === group);
      const news = after.filter((b) => groupOf(b.type) === group);
      const [old, neu] = [olds[0], news[0]];
      if (old === undefined) {
        const what = typeName(news[0]!.type);
        this.widened(path, this.input ? `now also accepts ${what}` : `may now be ${what}`);
      } else if (neu === undefined) {
        const what = typeName(old.type);
        this.narrowed(path, this.input ? `no longer accepts ${what}` : `can no longer be ${what}`);
      } else if (olds.length === 1 && news.length === 1) this.branch(old, neu, path, depth);
      else this.pairUp(olds, news, path, depth);
    }
  }

  /**
   * Several branches of one type (a union of object shapes): each branch the other side relies
   * on (every old one for input, every new one for output) is compared with its closest match.
   */
  pairUp(olds: Branch[], news: Branch[], path: string, depth: number): void {
    const relied = this.input ? olds : news;
    const others = this.input ? news : olds;
    for (const branch of relied) {
      let best: SchemaChange[] | undefined;
      for (const other of others) {
        const trial = new Differ(this.direction, this.rootBefore, this.rootAfter, this.#active);
        if (this.input) trial.branch(branch, other, path, depth);
        else trial.branch(other, branch, path, depth);
        if (best === undefined || score(trial.changes) < score(best)) best = trial.changes;
      }
      this.changes.push(...(best ?? []));
    }
  }

  /** Two branches of one type group: `before` is the old one. */
  branch(before: Branch, after: Branch, path: string, depth: number): void {
    if (before.type === "integer" && after.type === "number")
      this.widened(
        path,
        this.input
          ? "now accepts any number, not only integers"
          : "may now be any number, not only an integer",
      );
    if (before.type === "number" && after.type === "integer")
      this.narrowed(path, "now only integers");
    const [a, b] = [before.schema, after.schema];
    this.enums(a.enum, b.enum, path);
    const group = groupOf(before.type);
    if (group === "object") this.object(a, b, path, depth);
    else if (group === "array") this.array(a, b, path, depth);
    else if (group === "string") this.string(a, b, path);
    else if (group === "number") this.number(a, b, path);
    this.others(a, b, path);
  }

  enums(before: unknown, after: unknown, path: string): void {
    if (!Array.isArray(before) && !Array.isArray(after)) return;
    if (!Array.isArray(before)) {
      this.narrowed(path, `now only ${values(after as unknown[])}`);
      return;
    }
    if (!Array.isArray(after)) {
      this.widened(path, `no longer limited to ${values(before)}`);
      return;
    }
    const removed = before.filter((v) => !after.some((w) => equalJSON(v, w)));
    const added = after.filter((v) => !before.some((w) => equalJSON(v, w)));
    if (removed.length > 0) {
      const list = values(removed);
      this.narrowed(path, this.input ? `no longer accepts ${list}` : `can no longer be ${list}`);
    }
    if (added.length > 0) {
      const list = values(added);
      this.widened(path, this.input ? `now also accepts ${list}` : `may now be ${list}`);
    }
  }

  object(
    a: Record<string, unknown>,
    b: Record<string, unknown>,
    path: string,
    depth: number,
  ): void {
    const propsA = asRecord(a.properties);
    const propsB = asRecord(b.properties);
    const reqA = new Set(asStrings(a.required));
    const reqB = new Set(asStrings(b.required));
    const keys = [...new Set([...Object.keys(propsA), ...reqA, ...Object.keys(propsB), ...reqB])];
    for (const key of keys.sort()) {
      const at = join(path, key);
      const inA = Object.hasOwn(propsA, key) || reqA.has(key);
      const inB = Object.hasOwn(propsB, key) || reqB.has(key);
      const [wasRequired, isRequired] = [reqA.has(key), reqB.has(key)];
      if (inA && inB) {
        if (this.input && !wasRequired && isRequired)
          this.narrowed(
            at,
            "became required (it was optional): callers that leave it out are refused",
          );
        if (this.input && wasRequired && !isRequired) this.widened(at, "became optional");
        if (!this.input && wasRequired && !isRequired)
          this.widened(at, "may now be missing (it was always present)");
        if (!this.input && !wasRequired && isRequired) this.narrowed(at, "is now always present");
        this.diff(schemaAt(propsA, key), schemaAt(propsB, key), at, depth + 1);
      } else if (inB) {
        if (this.input && isRequired)
          this.narrowed(at, "is new and required: callers that do not send it are refused");
        else this.note(at, false, isRequired ? "new field" : "new optional field");
      } else if (this.input) {
        const refused = b.additionalProperties === false;
        this.note(
          at,
          true,
          `was removed: callers that send it ${refused ? "are refused" : "have it ignored"}`,
        );
      } else this.note(at, true, wasRequired ? "was removed" : "was removed (it was optional)");
    }
    this.additional(a.additionalProperties, b.additionalProperties, join(path, "*"), depth);
    if (a.propertyNames !== undefined || b.propertyNames !== undefined)
      this.diff(nodeOf(a.propertyNames), nodeOf(b.propertyNames), join(path, "{key}"), depth + 1);
    this.lower(path, "minProperties", a.minProperties, b.minProperties);
    this.upper(path, "maxProperties", a.maxProperties, b.maxProperties);
  }

  /**
   * Fields a schema does not name. Readers ignore fields they do not know, so for output only a
   * schema for them (a record's values) is compared; for input, closing an open object is
   * narrowing, and opening a closed one widening.
   */
  additional(before: unknown, after: unknown, path: string, depth: number): void {
    const isSchema = (v: unknown) => typeof v === "object" && v !== null;
    if (!isSchema(before) && !isSchema(after)) {
      if (!this.input || (before === false) === (after === false)) return;
      if (after === false) this.narrowed(path, "fields the schema does not name are now refused");
      else this.widened(path, "fields the schema does not name are now accepted");
      return;
    }
    if (!this.input && (before === false || after === false)) return;
    this.diff(nodeOf(before), nodeOf(after), path, depth + 1);
  }

  array(a: Record<string, unknown>, b: Record<string, unknown>, path: string, depth: number): void {
    const tupleA = Array.isArray(a.prefixItems) ? a.prefixItems : [];
    const tupleB = Array.isArray(b.prefixItems) ? b.prefixItems : [];
    for (let i = 0; i < Math.max(tupleA.length, tupleB.length); i++) {
      const at = `${path}[${i}]`;
      if (i < tupleA.length && i < tupleB.length)
        this.diff(nodeOf(tupleA[i]), nodeOf(tupleB[i]), at, depth + 1);
      else this.note(at, true, "the tuple's length changed (treated as breaking)");
    }
    if (a.items !== undefined || b.items !== undefined)
      this.diff(nodeOf(a.items), nodeOf(b.items), `${path}[]`, depth + 1);
    this.lower(path, "minItems", a.minItems, b.minItems);
    this.upper(path, "maxItems", a.maxItems, b.maxItems);
    if ((a.uniqueItems === true) !== (b.uniqueItems === true)) {
      if (b.uniqueItems === true) this.narrowed(path, "items must now be unique");
      else this.widened(path, "items need not be unique any more");
    }
  }

  string(a: Record<string, unknown>, b: Record<string, unknown>, path: string): void {
    this.lower(path, "minLength", a.minLength, b.minLength);
    this.upper(path, "maxLength", a.maxLength, b.maxLength);
    this.textual(path, "pattern", a.pattern, b.pattern);
    this.textual(path, "format", a.format, b.format);
  }

  number(a: Record<string, unknown>, b: Record<string, unknown>, path: string): void {
    const [lowA, lowB] = [lowerOf(a), lowerOf(b)];
    const [highA, highB] = [upperOf(a), upperOf(b)];
    const tighter = (x: Bound, y: Bound, sign: 1 | -1) =>
      sign * (y.value - x.value) > 0 || (y.value === x.value && y.exclusive && !x.exclusive);
    this.bound(path, "minimum", lowA, lowB, (x, y) => tighter(x, y, 1));
    this.bound(path, "maximum", highA, highB, (x, y) => tighter(x, y, -1));
    const [m, n] = [num(a.multipleOf), num(b.multipleOf)];
    if (m === n) return;
    if (m === undefined) this.narrowed(path, `must now be a multiple of ${n}`);
    else if (n === undefined) this.widened(path, `need not be a multiple of ${m} any more`);
    else if (n % m === 0) this.narrowed(path, `must now be a multiple of ${n} (was ${m})`);
    else if (m % n === 0) this.widened(path, `now a multiple of ${n} is enough (was ${m})`);
    else this.note(path, true, `multipleOf changed from ${m} to ${n} (treated as breaking)`);
  }

  bound(
    path: string,
    label: string,
    x: Bound | undefined,
    y: Bound | undefined,
    tighter: (x: Bound, y: Bound) => boolean,
  ): void {
    const show = (v: Bound) => `${v.exclusive ? "exclusive " : ""}${v.value}`;
    if (x === undefined && y === undefined) return;
    if (x === undefined) {
      this.narrowed(path, `${label} ${show(y!)} added`);
      return;
    }
    if (y === undefined) {
      this.widened(path, `${label} ${show(x)} removed`);
      return;
    }
    if (x.value === y.value && x.exclusive === y.exclusive) return;
    if (tighter(x, y)) this.narrowed(path, `${label} tightened from ${show(x)} to ${show(y)}`);
    else this.widened(path, `${label} loosened from ${show(x)} to ${show(y)}`);
  }

  /** A lower bound (minLength, minItems...): raising it narrows. */
  lower(path: string, label: string, a: unknown, b: unknown): void {
    const [x, y] = [num(a), num(b)];
    this.bound(path, label, bound(x), bound(y), (p, q) => q.value > p.value);
  }

  /** An upper bound (maxLength, maxItems...): lowering it narrows. */
  upper(path: string, label: string, a: unknown, b: unknown): void {
    const [x, y] = [num(a), num(b)];
    this.bound(path, label, bound(x), bound(y), (p, q) => q.value < p.value);
  }

  /** `pattern`, `format`: added narrows, removed widens, changed cannot be judged from text. */
  textual(path: string, label: string, a: unknown, b: unknown): void {
    if (equalJSON(a, b)) return;
    const show = (v: unknown) => JSON.stringify(v);
    if (a === undefined) this.narrowed(path, `${label} ${show(b)} added`);
    else if (b === undefined) this.widened(path, `${label} ${show(a)} removed`);
    else
      this.note(path, true, `${label} changed from ${show(a)} to ${show(b)} (treated as breaking)`);
  }

  /** Keywords the rules do not read (`not`, `if`, an opaque schema...): equal, or breaking. */
  others(a: Record<string, unknown>, b: Record<string, unknown>, path: string): void {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of [...keys].sort()) {
      if (COMPARED.has(key) || IGNORED.has(key)) continue;
      if (key.startsWith("x-") && key !== OPAQUE_SCHEMA) continue;
      if (equalJSON(a[key], b[key])) continue;
      this.note(path, true, `'${key}' changed (not compared by these rules; treated as breaking)`);
    }
  }
}

function score(changes: readonly SchemaChange[]): number {
  return changes.filter((c) => c.breaking).length * 1000 + changes.length;
}
