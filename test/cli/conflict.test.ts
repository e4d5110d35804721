import { defineService } from "flotilla";
import { createTestCluster, waitForEvent } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

// Two nodes that announce the same service version with different definitions: calls would
// behave differently by where they land, so a node that sees both says so.
const math = (actions: Record<string, z.ZodType>) =>
  defineService({
    name: "math",
    actions: Object.fromEntries(
      Object.entries(actions).map(([name, params]) => [name, { params, handler: () => 0 }]),
    ),
  });
const pair = z.object({ a: z.number(), b: z.number() });
const watcher = defineService({
  name: "watcher",
  events: { "$services.conflict": { handler: () => {} } },
});

describe("$services.conflict", () => {
  let cluster = createTestCluster();
  afterEach(async () => {
    await cluster.stop();
    cluster = createTestCluster();
  });

  it("is raised with the actions only one node has and those whose schemas differ", async () => {
    const w = cluster.node("w");
    w.createService(watcher);
    await w.start();
    const conflict = waitForEvent(w, "$services.conflict", undefined, { timeout: 5_000 });
    const a = cluster.node("a");
    a.createService(math({ add: pair, neg: z.object({ a: z.number() }) }));
    await a.start();
    await w.waitForServices("math");
    const b = cluster.node("b");
    b.createService(math({ add: z.object({ a: z.string(), b: z.string() }), mul: pair }));
    await b.start();
    expect((await conflict).params).toEqual({
      service: "math",
      nodeIDs: [a.nodeID, b.nodeID],
      onlyOn: { [a.nodeID]: ["math.neg"], [b.nodeID]: ["math.mul"] },
      schemas: ["math.add"],
    });
  });

  it("is not raised for nodes that agree", async () => {
    const seen: unknown[] = [];
    const w = cluster.node("w");
    w.createService(
      defineService({
        name: "watcher",
        events: { "$services.conflict": { handler: (ctx) => void seen.push(ctx.params) } },
      }),
    );
    for (const id of ["c", "d"]) cluster.node(id).createService(math({ add: pair }));
    await cluster.start();
    await w.waitForServices("math");
    // Conflicts are raised as INFO packets arrive, before the nodes count as known.
    expect([...w.registry.remote.nodes.keys()].sort()).toEqual(["c", "d"]);
    await w.call("math.add", { a: 1, b: 2 });
    expect(seen).toEqual([]);
  });
});
