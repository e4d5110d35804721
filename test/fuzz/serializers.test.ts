import fc from "fast-check";
import { PayloadTooDeepError } from "flotilla";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_DEPTH, parseJsonLimited } from "../../src/serializers/depth.js";
import { jsonSerializer } from "../../src/serializers/json.js";
import { msgpackSerializer } from "../../src/serializers/msgpack.js";
import type { Serializer } from "../../src/serializers/serializer.js";

// The serializers against values and bytes a stranger chooses: a value round-trips or is
// refused with a coded error, bytes decode or are refused, and no depth of nesting reaches the
// stack (no RangeError, whatever the input).

const RUNS = 10_000;
const serializers: [string, Serializer][] = [
  ["json", jsonSerializer()],
  ["msgpack", msgpackSerializer()],
];

/** Arrays and objects nested `depth` levels. */
function nested(depth: number, object: boolean): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = object ? { k: value } : [value];
  return value;
}

/** Runs `fn`; a thrown error must be a coded refusal or a plain parse error, never a stack overflow. */
function refusedOrDone(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).not.toMatch(/call stack/i);
    return err;
  }
}

/** Mostly around the limit, sometimes far past it. */
const depths = fc.oneof(
  fc.integer({ min: DEFAULT_MAX_DEPTH - 4, max: DEFAULT_MAX_DEPTH + 4 }),
  fc.integer({ min: 0, max: 10_000 }),
);

describe.each(serializers)("fuzz: the %s serializer", (_name, serializer) => {
  it(`round-trips ${RUNS} JSON values`, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const expected = JSON.parse(JSON.stringify(value));
        const decoded = serializer.decode(serializer.encode(value));
        // msgpackr renames a "__proto__" key on purpose, so it can never reach a prototype.
        if (serializer.name === "msgpack" && JSON.stringify(value).includes('"__proto__"')) {
          expect(Object.getPrototypeOf(decoded ?? 0)).toBe(Object.getPrototypeOf(expected ?? 0));
          return;
        }
        expect(decoded).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it(`decodes or refuses ${RUNS} arbitrary byte strings, never overflowing the stack`, () => {
    const bytes = fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 30 },
      // Runs of openers, the cheapest deep input in both formats (rarer: each costs a few ms).
      {
        arbitrary: fc
          .tuple(fc.constantFrom(0x5b, 0x7b, 0x91, 0x81), fc.integer({ min: 1, max: 8_000 }))
          .map(([b, n]) => new Uint8Array(n).fill(b)),
        weight: 1,
      },
    );
    fc.assert(
      fc.property(bytes, (input) => {
        refusedOrDone(() => serializer.decode(input));
      }),
      { numRuns: RUNS },
    );
  });

  it("encodes values nested up to 10,000 levels, or refuses them with PAYLOAD_TOO_DEEP", () => {
    fc.assert(
      fc.property(depths, fc.boolean(), (depth, object) => {
        const value = nested(depth, object);
        const out = refusedOrDone(() => serializer.encode(value));
        if (depth > DEFAULT_MAX_DEPTH) expect(out).toBeInstanceOf(PayloadTooDeepError);
        else expect(serializer.decode(out as Uint8Array)).toEqual(value);
      }),
      // Each over-deep value costs milliseconds (a stack overflow caught): fewer of them; the
      // cheap properties above carry the count.
      { numRuns: 150 },
    );
  });
});

describe("fuzz: parseJsonLimited", () => {
  it(`parses or refuses ${RUNS} strings, refusing the over-deep ones with PAYLOAD_TOO_DEEP`, () => {
    const text = fc.oneof(
      fc.json({ maxDepth: 6 }),
      fc.string({ maxLength: 64 }),
      fc.integer({ min: 0, max: 2_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
    );
    fc.assert(
      fc.property(text, (input) => {
        const out = refusedOrDone(() => parseJsonLimited(input));
        if (out instanceof Error && !(out instanceof SyntaxError)) {
          expect(out).toBeInstanceOf(PayloadTooDeepError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
