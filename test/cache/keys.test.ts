import { describe, expect, it } from "vitest";
import { decodeValue, encodeValue } from "../../src/middleware/cache/codec.js";
import {
  HASH_ABOVE,
  keyBuilder,
  patternMatcher,
  redisGlob,
} from "../../src/middleware/cache/keys.js";

// Keys must be stable (one key for one meaning) and collision-free (two meanings, two keys).

describe("cache keys", () => {
  it("are stable across the order of object keys", () => {
    const keyOf = keyBuilder("a.b", undefined);
    const one = keyOf({ params: { x: 1, y: { p: [1, 2], q: "s" } }, meta: {} });
    const two = keyOf({ params: { y: { q: "s", p: [1, 2] }, x: 1 }, meta: {} });
    expect(one).toBe(two);
    expect(one).toBe('a.b:{"x":1,"y":{"p":[1,2],"q":"s"}}');
  });

  it("keep apart values JSON would confuse", () => {
    const keyOf = keyBuilder("a.b", ["v"]);
    const values = [
      1,
      "1",
      1n,
      null,
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      "undefined",
      [1],
      [[1]],
      { 0: 1 },
      true,
      "true",
    ];
    const keys = values.map((v) => keyOf({ params: { v }, meta: {} }));
    expect(new Set(keys).size).toBe(values.length);
  });

  it("read params by path and meta with #, in the order given", () => {
    const keyOf = keyBuilder("a.b", ["filter.page", "#tenant", "#user.id"]);
    const key = keyOf({
      params: { filter: { page: 2 } },
      meta: { tenant: "acme", user: { id: 7 } },
    });
    expect(key).toBe('a.b:[2,"acme",7]');
    expect(keyOf({ params: {}, meta: {} })).toBe("a.b:[undefined,undefined,undefined]");
  });

  it("hash long bodies, and a hashed body never equals a plain one", () => {
    const keyOf = keyBuilder("a.b", ["q"]);
    const long = keyOf({ params: { q: "x".repeat(HASH_ABOVE * 2) }, meta: {} });
    expect(long).toMatch(/^a\.b:#[\w-]{43}$/);
    expect(long).not.toBe(keyOf({ params: { q: "x".repeat(HASH_ABOVE * 2 + 1) }, meta: {} }));
  });

  it("refuse params nested too deep (the call then skips the cache)", () => {
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 40; i++) at = at.n = {};
    expect(() => keyBuilder("a.b", undefined)({ params: deep, meta: {} })).toThrow(RangeError);
  });
});

describe("clean patterns", () => {
  it("match like Moleculer's: * one segment, ** anything", () => {
    expect(patternMatcher("products.*")("products.get")).toBe(true);
    expect(patternMatcher("products.*")("products.admin.list")).toBe(false);
    expect(patternMatcher("products.**")("products.admin.list")).toBe(true);
    expect(patternMatcher("products.get")("products.getAll")).toBe(false);
    expect(patternMatcher("*.get")("v2.get")).toBe(true);
    expect(patternMatcher("**")("anything.at.all")).toBe(true);
    expect(redisGlob("products.*")).toBe("products.*");
    expect(redisGlob("a?[b]**")).toBe("a\\?\\[b\\]*");
  });
});

describe("cached values", () => {
  it("round-trip as JSON; what JSON cannot carry is refused with a reason", () => {
    expect(decodeValue(encodeValue("a.b", { d: new Date(0) }) as string)).toEqual({
      d: "1970-01-01T00:00:00.000Z",
    });
    expect(decodeValue(encodeValue("a.b", undefined) as string)).toBeUndefined();
    expect(decodeValue(encodeValue("a.b", null) as string)).toBeNull();
    for (const bad of [new Set([1]), { f: () => 1 }, { n: 1n }, [Symbol("s")]]) {
      expect(encodeValue("a.b", bad)).toMatchObject({ code: "CACHE_VALUE_NOT_SERIALIZABLE" });
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(encodeValue("a.b", cycle)).toMatchObject({ code: "CACHE_VALUE_NOT_SERIALIZABLE" });
  });
});
