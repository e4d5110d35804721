import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HttpEdgeError } from "../../src/gateway/errors.js";
import { mergeParams } from "../../src/gateway/params.js";

// The gateway's merge of query, body and path parameters against what an HTTP caller chooses:
// a params object or a 400, path parameters win, and no key ever reaches a prototype.

const RUNS = 10_000;

/** Keys a caller picks, with the dangerous ones often. */
const key = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "id", "hasOwnProperty"),
);
/** An object as a JSON parser makes it: "__proto__" is an own key, not the prototype. */
const parsed = (value: fc.Arbitrary<unknown>) =>
  fc
    .array(fc.tuple(key, value), { maxLength: 6 })
    .map((entries) => JSON.parse(JSON.stringify(Object.fromEntries(entries))));
const body = fc.oneof(
  parsed(fc.jsonValue({ maxDepth: 2 })),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(undefined, null, Buffer.from("x")),
);
const query = fc.oneof(parsed(fc.string({ maxLength: 8 })), fc.constant(undefined));
const path = fc.oneof(parsed(fc.string({ maxLength: 8 })), fc.constant(undefined));

describe("fuzz: gateway params", () => {
  it(`merges ${RUNS} hostile query/body/path triples into params or a 400, never polluting a prototype`, () => {
    fc.assert(
      fc.property(query, body, path, (q, b, p) => {
        let params: Record<string, unknown>;
        try {
          params = mergeParams(q, b, p as Record<string, string> | undefined);
        } catch (err) {
          expect(err).toBeInstanceOf(HttpEdgeError);
          expect((err as HttpEdgeError).status).toBe(400);
          return;
        }
        expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
        for (const [k, v] of Object.entries(p ?? {})) {
          if (k !== "__proto__") expect(params[k]).toBe(v);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.prototype).not.toHaveProperty("x");
      }),
      { numRuns: RUNS },
    );
  });
});
