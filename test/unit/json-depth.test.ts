import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonTooDeep, valueTooDeep } from "../../src/serializers/depth.js";

// The JSON depth check scans text without parsing it, jumping over strings: brackets, quotes and
// backslashes inside strings must not count, whatever their escapes.

const tricky = fc.string({ unit: fc.constantFrom("[", "{", "]", "}", '"', "\\", "a", "é", "😀") });
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    tricky,
    fc.integer(),
    fc.array(tie("node"), { maxLength: 3 }),
    fc.dictionary(tricky, tie("node"), { maxKeys: 3 }),
  ),
})).node;

describe("the JSON depth check", () => {
  it("agrees with the parsed value's depth, on text and on UTF-8 bytes at an offset", () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 6 }), (v, maxDepth) => {
        const text = JSON.stringify(v);
        const expected = valueTooDeep(v, maxDepth);
        expect(jsonTooDeep(text, maxDepth)).toBe(expected);
        const bytes = Buffer.from(`xyz${text}`);
        expect(jsonTooDeep(bytes, maxDepth, 3)).toBe(expected);
        expect(jsonTooDeep(new Uint8Array(bytes), maxDepth, 3)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("does not count brackets in strings that end in escaped backslashes", () => {
    const inside = { s: "\\\\[[[[[[[[\\", t: '"[[[[[["', u: ["\\"] };
    const text = JSON.stringify(inside);
    expect(jsonTooDeep(text, 2)).toBe(false);
    expect(jsonTooDeep(JSON.stringify([[[inside]]]), 2)).toBe(true);
  });
});
