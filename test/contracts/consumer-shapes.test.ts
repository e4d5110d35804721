import { describe, expect, it } from "vitest";
import {
  compareShape,
  type JsonValue,
  mergeShapes,
  shapeOf,
  wireValue,
} from "../../src/testing/contracts-shape.js";

// What a consumer saw of an answer, and when a provider's new answer still fits it: the fields
// the consumer saw must be there with a compatible type; anything else may change.

const fits = (real: JsonValue | undefined, seen: JsonValue) =>
  compareShape(real, shapeOf(seen)).map(
    (m) => `${m.path || "(value)"}: ${m.problem}, ${m.actual} for ${m.expected}`,
  );

describe("shapes of what a consumer saw", () => {
  it("records types and fields, not values; the wire form (dates as strings, no undefined)", () => {
    const value = wireValue({ id: 1, at: new Date(0), gone: undefined, tags: ["a"], note: null });
    expect(value).toEqual({ id: 1, at: "1970-01-01T00:00:00.000Z", tags: ["a"], note: null });
    expect(shapeOf(value ?? null)).toEqual({
      type: "object",
      properties: {
        at: { type: "string" },
        id: { type: "number" },
        note: { type: "null" },
        tags: { type: "array", items: { type: "string" } },
      },
      required: ["at", "id", "note", "tags"],
    });
    expect(wireValue(undefined)).toBeUndefined();
  });

  it("merges the items of a list: fields seen in some items only are optional, mixed types are alternatives", () => {
    expect(shapeOf([{ id: 1, sale: true }, { id: 2 }])).toEqual({
      type: "array",
      items: {
        type: "object",
        properties: { id: { type: "number" }, sale: { type: "boolean" } },
        required: ["id"],
      },
    });
    expect(mergeShapes(shapeOf(1), shapeOf("one"))).toEqual({
      anyOf: [{ type: "number" }, { type: "string" }],
    });
    expect(mergeShapes(shapeOf([]), shapeOf([1]))).toEqual({
      type: "array",
      items: { type: "number" },
    });
  });

  it.each<[string, JsonValue | undefined, JsonValue, string[]]>([
    ["the same answer", { id: 1, name: "a" }, { id: 2, name: "b" }, []],
    ["an answer with more fields", { id: 1, name: "a", extra: [1] }, { id: 2, name: "b" }, []],
    ["a removed field", { id: 1 }, { id: 1, name: "a" }, ["name: missing, nothing for a string"]],
    ["a field of another type", { id: "1" }, { id: 1 }, ["id: type, a string for a number"]],
    [
      "a nested field",
      { a: { b: {} } },
      { a: { b: { c: true } } },
      ["a.b.c: missing, nothing for a boolean"],
    ],
    ["an item of a list", { xs: [1, "2"] }, { xs: [1] }, ["xs[1]: type, a string for a number"]],
    ["an empty list", { xs: [] }, { xs: [1] }, []],
    ["a list where an object was", { a: [] }, { a: {} }, ["a: type, a list for an object"]],
    ["no answer at all", undefined, { id: 1 }, ["(value): missing, nothing for an object"]],
    ["a field the consumer saw as null", { coupon: { code: "X" } }, { coupon: null }, []],
    [
      "a null where a value was",
      { coupon: null },
      { coupon: "X" },
      ["coupon: type, null for a string"],
    ],
  ])("%s", (_, real, seen, expected) => {
    expect(fits(real, seen)).toEqual(expected);
  });

  it("lets an optional field be absent, but not of another type", () => {
    const seen = shapeOf([{ id: 1, sale: true }, { id: 2 }]);
    expect(compareShape([{ id: 3 }], seen)).toEqual([]);
    expect(compareShape([{ id: 3, sale: "yes" }], seen)).toEqual([
      { path: "[0].sale", problem: "type", expected: "a boolean", actual: "a string" },
    ]);
    const either = mergeShapes(shapeOf(1), shapeOf("one"));
    expect(compareShape(true, either)).toEqual([
      { path: "", problem: "type", expected: "a number or a string", actual: "a boolean" },
    ]);
  });

  it("keeps a field called __proto__ a field", () => {
    const seen = JSON.parse('{"__proto__": {"x": 1}}') as JsonValue;
    const shape = shapeOf(seen);
    expect(shape).toMatchObject({ type: "object", required: ["__proto__"] });
    expect(compareShape(JSON.parse('{"__proto__": {}}') as JsonValue, shape)).toEqual([
      { path: "__proto__.x", problem: "missing", expected: "a number", actual: "nothing" },
    ]);
  });
});
