import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type Direction, diffSchemas } from "../../src/contracts/schema-diff.js";
import { toJSONSchema } from "../../src/service/json-schema.js";

// The compatibility rules as a table: one schema change per row, the side it is read from, and
// the verdict a team would expect. `input`: what callers send (action params) or emitters send
// to a handler; `output`: what callers read (action results) or handlers read (emitted payloads).

type Schema = Record<string, unknown> | boolean | undefined;

interface Row {
  what: string;
  direction: Direction;
  before: Schema;
  after: Schema;
  /** Whether the change breaks the other side. */
  breaking: boolean;
  /** The field the (first breaking, else first) change is reported at. */
  path?: string;
  /** Words the reason contains. */
  why?: RegExp;
}

const obj = (properties: Record<string, unknown>, required: string[] = [], extra = {}) => ({
  type: "object",
  properties,
  required,
  ...extra,
});
const str = { type: "string" };
const num = { type: "number" };
const zod = (schema: unknown, io: "input" | "output" = "input") => toJSONSchema(schema, io);

const rows: Row[] = [
  // Action params: what callers send.
  {
    what: "a new required param",
    direction: "input",
    before: obj({ id: str }, ["id"]),
    after: obj({ id: str, coupon: str }, ["id", "coupon"]),
    breaking: true,
    path: "coupon",
    why: /new and required/,
  },
  {
    what: "a new optional param",
    direction: "input",
    before: obj({ id: str }, ["id"]),
    after: obj({ id: str, coupon: str }, ["id"]),
    breaking: false,
    path: "coupon",
    why: /new optional/,
  },
  {
    what: "a param made required",
    direction: "input",
    before: obj({ coupon: str }),
    after: obj({ coupon: str }, ["coupon"]),
    breaking: true,
    path: "coupon",
    why: /became required/,
  },
  {
    what: "a param made optional",
    direction: "input",
    before: obj({ coupon: str }, ["coupon"]),
    after: obj({ coupon: str }),
    breaking: false,
    path: "coupon",
  },
  {
    what: "a removed param",
    direction: "input",
    before: obj({ id: str, note: str }, ["id"]),
    after: obj({ id: str }, ["id"]),
    breaking: true,
    path: "note",
    why: /removed/,
  },
  {
    what: "a removed param of a closed object (callers that send it are refused)",
    direction: "input",
    before: obj({ id: str, note: str }, [], { additionalProperties: false }),
    after: obj({ id: str }, [], { additionalProperties: false }),
    breaking: true,
    path: "note",
    why: /refused/,
  },
  {
    what: "a param type narrowed (string or number → string)",
    direction: "input",
    before: obj({ id: { type: ["string", "number"] } }),
    after: obj({ id: str }),
    breaking: true,
    path: "id",
    why: /no longer accepts a number/,
  },
  {
    what: "a param type widened (string → string or number)",
    direction: "input",
    before: obj({ id: str }),
    after: obj({ id: { anyOf: [str, num] } }),
    breaking: false,
    path: "id",
  },
  {
    what: "integer → number",
    direction: "input",
    before: obj({ qty: { type: "integer" } }),
    after: obj({ qty: num }),
    breaking: false,
  },
  {
    what: "number → integer",
    direction: "input",
    before: obj({ qty: num }),
    after: obj({ qty: { type: "integer" } }),
    breaking: true,
    path: "qty",
  },
  {
    what: "an accepted enum value removed",
    direction: "input",
    before: obj({ kind: { type: "string", enum: ["percent", "fixed"] } }),
    after: obj({ kind: { type: "string", enum: ["percent"] } }),
    breaking: true,
    path: "kind",
    why: /'fixed'/,
  },
  {
    what: "an enum value added to params",
    direction: "input",
    before: obj({ kind: { enum: ["percent"] } }),
    after: obj({ kind: { enum: ["percent", "fixed"] } }),
    breaking: false,
  },
  {
    what: "a param made nullable",
    direction: "input",
    before: obj({ note: str }),
    after: obj({ note: { type: ["string", "null"] } }),
    breaking: false,
  },
  {
    what: "null no longer accepted (OpenAPI's nullable removed)",
    direction: "input",
    before: obj({ note: { type: "string", nullable: true } }),
    after: obj({ note: str }),
    breaking: true,
    why: /null/,
  },
  {
    what: "minLength raised",
    direction: "input",
    before: obj({ name: { type: "string", minLength: 1 } }),
    after: obj({ name: { type: "string", minLength: 3 } }),
    breaking: true,
    why: /minLength tightened from 1 to 3/,
  },
  {
    what: "maxLength raised",
    direction: "input",
    before: obj({ name: { type: "string", maxLength: 40 } }),
    after: obj({ name: { type: "string", maxLength: 64 } }),
    breaking: false,
  },
  {
    what: "a pattern added",
    direction: "input",
    before: obj({ sku: str }),
    after: obj({ sku: { type: "string", pattern: "^[A-Z]" } }),
    breaking: true,
  },
  {
    what: "a pattern removed",
    direction: "input",
    before: obj({ sku: { type: "string", pattern: "^[A-Z]" } }),
    after: obj({ sku: str }),
    breaking: false,
  },
  {
    what: "a format changed (not judged from its text: breaking)",
    direction: "input",
    before: obj({ at: { type: "string", format: "date" } }),
    after: obj({ at: { type: "string", format: "date-time" } }),
    breaking: true,
    why: /treated as breaking/,
  },
  {
    what: "a minimum lowered",
    direction: "input",
    before: obj({ qty: { type: "integer", minimum: 1 } }),
    after: obj({ qty: { type: "integer", minimum: 0 } }),
    breaking: false,
  },
  {
    what: "a maximum made exclusive",
    direction: "input",
    before: obj({ pct: { type: "number", maximum: 100 } }),
    after: obj({ pct: { type: "number", exclusiveMaximum: 100 } }),
    breaking: true,
  },
  {
    what: "multipleOf 5 → 10",
    direction: "input",
    before: obj({ cents: { type: "integer", multipleOf: 5 } }),
    after: obj({ cents: { type: "integer", multipleOf: 10 } }),
    breaking: true,
  },
  {
    what: "array items narrowed",
    direction: "input",
    before: obj({ tags: { type: "array", items: { type: ["string", "number"] } } }),
    after: obj({ tags: { type: "array", items: str } }),
    breaking: true,
    path: "tags[]",
  },
  {
    what: "maxItems lowered",
    direction: "input",
    before: obj({ items: { type: "array", items: str, maxItems: 100 } }),
    after: obj({ items: { type: "array", items: str, maxItems: 50 } }),
    breaking: true,
    path: "items",
  },
  {
    what: "a new required field inside array items (zod schemas)",
    direction: "input",
    before: zod(z.object({ items: z.array(z.object({ productId: z.string() })) })),
    after: zod(
      z.object({ items: z.array(z.object({ productId: z.string(), qty: z.number().int() })) }),
    ),
    breaking: true,
    path: "items[].qty",
  },
  {
    what: "unknown fields refused (additionalProperties: false added)",
    direction: "input",
    before: obj({ id: str }),
    after: obj({ id: str }, [], { additionalProperties: false }),
    breaking: true,
    path: "*",
  },
  {
    what: "params that had no schema now validated",
    direction: "input",
    before: undefined,
    after: obj({ id: str }),
    breaking: true,
    path: "",
  },
  {
    what: "the params schema dropped (anything accepted)",
    direction: "input",
    before: obj({ id: str }, ["id"]),
    after: undefined,
    breaking: false,
  },
  {
    what: "a recursive schema, unchanged but for its description (zod $ref)",
    direction: "input",
    before: { ...tree(), description: "a tree" },
    after: tree(),
    breaking: false,
  },

  // Action results: what callers read.
  {
    what: "a new result field",
    direction: "output",
    before: obj({ id: num }, ["id"]),
    after: obj({ id: num, name: str }, ["id", "name"]),
    breaking: false,
    path: "name",
    why: /new field/,
  },
  {
    what: "a removed result field",
    direction: "output",
    before: obj({ id: num, name: str }, ["id", "name"]),
    after: obj({ id: num }, ["id"]),
    breaking: true,
    path: "name",
    why: /removed/,
  },
  {
    what: "a result field made optional",
    direction: "output",
    before: obj({ id: num, name: str }, ["id", "name"]),
    after: obj({ id: num, name: str }, ["id"]),
    breaking: true,
    path: "name",
    why: /may now be missing/,
  },
  {
    what: "a result field made nullable (zod .nullable())",
    direction: "output",
    before: zod(z.object({ name: z.string() }), "output"),
    after: zod(z.object({ name: z.string().nullable() }), "output"),
    breaking: true,
    path: "name",
    why: /may now be null/,
  },
  {
    what: "a result type widened",
    direction: "output",
    before: obj({ id: num }),
    after: obj({ id: { type: ["number", "string"] } }),
    breaking: true,
    why: /may now be a string/,
  },
  {
    what: "a result enum value added",
    direction: "output",
    before: obj({ status: { enum: ["confirmed", "rejected"] } }),
    after: obj({ status: { enum: ["confirmed", "rejected", "pending"] } }),
    breaking: true,
    why: /'pending'/,
  },
  {
    what: "a result enum value removed",
    direction: "output",
    before: obj({ status: { enum: ["confirmed", "rejected"] } }),
    after: obj({ status: { enum: ["confirmed"] } }),
    breaking: false,
  },
  {
    what: "an optional result field made always present",
    direction: "output",
    before: obj({ note: str }),
    after: obj({ note: str }, ["note"]),
    breaking: false,
  },
  {
    what: "a result maximum raised",
    direction: "output",
    before: obj({ pct: { type: "number", maximum: 100 } }),
    after: obj({ pct: { type: "number", maximum: 1000 } }),
    breaking: true,
  },
  {
    what: "a result object closed (readers ignore unknown fields anyway)",
    direction: "output",
    before: obj({ id: num }),
    after: obj({ id: num }, [], { additionalProperties: false }),
    breaking: false,
  },
  {
    what: "a record's values widened",
    direction: "output",
    before: { type: "object", additionalProperties: num },
    after: { type: "object", additionalProperties: { type: ["number", "string"] } },
    breaking: true,
    path: "*",
  },
  {
    what: "the result schema dropped (it may be anything)",
    direction: "output",
    before: obj({ id: num }),
    after: undefined,
    breaking: true,
  },
  {
    what: "a result union gains an object shape",
    direction: "output",
    before: { anyOf: [obj({ ok: { const: true } }, ["ok"])] },
    after: {
      anyOf: [obj({ ok: { const: true } }, ["ok"]), obj({ error: str }, ["error"])],
    },
    breaking: true,
  },
  {
    what: "a result union loses an object shape",
    direction: "output",
    before: {
      anyOf: [obj({ ok: { const: true } }, ["ok"]), obj({ error: str }, ["error"])],
    },
    after: { anyOf: [obj({ ok: { const: true } }, ["ok"])] },
    breaking: false,
  },
  {
    what: "a keyword the rules do not read changed (conservatively breaking)",
    direction: "output",
    before: { type: "string", not: { const: "" } },
    after: { type: "string", not: { const: "x" } },
    breaking: true,
    why: /'not' changed/,
  },

  // Emitted event payloads: what handlers read (output); a handler's own schema is input.
  {
    what: "an emitted payload narrowed: a field handlers read is gone",
    direction: "output",
    before: obj({ orderId: str, total: num }, ["orderId", "total"]),
    after: obj({ orderId: str }, ["orderId"]),
    breaking: true,
    path: "total",
  },
  {
    what: "an emitted payload with a new field",
    direction: "output",
    before: obj({ orderId: str }, ["orderId"]),
    after: obj({ orderId: str, total: num }, ["orderId", "total"]),
    breaking: false,
  },
];

function tree(): Record<string, unknown> {
  interface Node {
    name: string;
    children: Node[];
  }
  const Node: z.ZodType<Node> = z.lazy(() =>
    z.object({ name: z.string(), children: z.array(Node) }),
  );
  return zod(Node) ?? {};
}

describe("the compatibility rules", () => {
  it("has a table of at least 30 schema changes, both verdicts and both sides", () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
    for (const direction of ["input", "output"] as const)
      for (const breaking of [true, false])
        expect(rows.some((r) => r.direction === direction && r.breaking === breaking)).toBe(true);
  });

  it.each(rows)("$what: breaking $breaking ($direction)", (row) => {
    const changes = diffSchemas(
      row.before as Record<string, unknown> | undefined,
      row.after as Record<string, unknown> | undefined,
      row.direction,
    );
    expect(
      changes.some((c) => c.breaking),
      JSON.stringify(changes),
    ).toBe(row.breaking);
    const shown = changes.find((c) => c.breaking) ?? changes[0];
    if (row.path !== undefined) expect(shown?.path).toBe(row.path);
    if (row.why !== undefined) expect(shown?.why).toMatch(row.why);
  });

  it("finds no change between a schema and itself, keys in any order", () => {
    const schema = obj({ id: str, tags: { type: "array", items: str } }, ["id"]);
    const reordered = {
      required: ["id"],
      properties: { tags: schema.properties.tags, id: str },
      type: "object",
    };
    expect(diffSchemas(schema, reordered, "input")).toEqual([]);
    expect(diffSchemas(tree(), tree(), "output")).toEqual([]);
  });

  it("stops at a budget of depth on a hostile, deeply nested schema", () => {
    let deep: Record<string, unknown> = str;
    for (let i = 0; i < 5000; i++) deep = obj({ a: deep });
    let other: Record<string, unknown> = num;
    for (let i = 0; i < 5000; i++) other = obj({ a: other });
    expect(() => diffSchemas(deep, other, "input")).not.toThrow();
  });
});
