import { describe, expect, it } from "vitest";
import { resolveStrategy } from "../../src/registry/strategies/index.js";

const nodes = (...ids: string[]) => ids.map((nodeID) => ({ nodeID }));
const stats = (latency: Record<string, number>, cpu: Record<string, number>) => ({
  latency: (id: string) => latency[id],
  cpu: (id: string) => cpu[id],
});
const none = stats({}, {});
const request = (params: unknown = {}, meta = {}) => ({ params, meta });

describe("strategies", () => {
  it("round-robin takes each endpoint in turn, per list", () => {
    const rr = resolveStrategy(undefined, none);
    const list = nodes("a", "b", "c");
    const other = nodes("x", "y");
    const picks = Array.from({ length: 6 }, () => rr.select(list, request()).nodeID);
    expect(picks).toEqual(["a", "b", "c", "a", "b", "c"]);
    expect(rr.select(other, request()).nodeID).toBe("x");
  });

  it("random spreads picks over every endpoint", () => {
    const random = resolveStrategy("random", none);
    const list = nodes("a", "b", "c");
    const seen = new Set(Array.from({ length: 200 }, () => random.select(list, request()).nodeID));
    expect(seen).toEqual(new Set(["a", "b", "c"]));
  });

  it("least-latency prefers the fastest measured node and asks for pings", () => {
    const ll = resolveStrategy("least-latency", stats({ a: 30, b: 2, c: 12 }, {}));
    expect(ll.needsLatency).toBe(true);
    expect(ll.select(nodes("a", "b", "c"), request()).nodeID).toBe("b");
  });

  it("cpu prefers the least busy node", () => {
    const cpu = resolveStrategy("cpu", stats({}, { a: 90, b: 40, c: 75 }));
    expect(cpu.select(nodes("a", "b", "c"), request()).nodeID).toBe("b");
  });

  it("shard sends a key to the same node, spreads keys, and moves few keys when a node leaves", () => {
    const shard = resolveStrategy({ name: "shard", key: "userId" }, none);
    const three = nodes("a", "b", "c");
    const owner = (list: { nodeID: string }[], id: number) =>
      shard.select(list, request({ userId: id })).nodeID;
    const before = Array.from({ length: 300 }, (_, id) => owner(three, id));
    expect(Array.from({ length: 300 }, (_, id) => owner(three, id))).toEqual(before);
    for (const n of ["a", "b", "c"])
      expect(before.filter((o) => o === n).length).toBeGreaterThan(50);
    const two = nodes("a", "b");
    const after = Array.from({ length: 300 }, (_, id) => owner(two, id));
    const moved = before.filter((o, id) => o !== "c" && after[id] !== o).length;
    expect(moved).toBe(0); // only c's keys move
  });

  it("shard reads a meta key with '#', and falls back to turns without the key", () => {
    const shard = resolveStrategy({ name: "shard", key: "#tenant" }, none);
    const list = nodes("a", "b", "c");
    const t1 = shard.select(list, request({}, { tenant: "acme" })).nodeID;
    expect(shard.select(list, request({}, { tenant: "acme" })).nodeID).toBe(t1);
    const fallback = Array.from({ length: 3 }, () => shard.select(list, request()).nodeID);
    expect(new Set(fallback).size).toBe(3);
  });

  it("rejects an unknown strategy name", () => {
    expect(() => resolveStrategy("fastest" as never, none)).toThrow(/Unknown strategy/);
  });
});
