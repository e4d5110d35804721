import { type Context, defineService } from "flotilla";
import { createTestCluster } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";

// Which handler of a group gets an emitted event is decided in one place, by the broker's
// strategy, as for calls: the same rules (round-robin turns, shard keys, preferLocal) hold for
// listeners on this node and on others alike.

function billing(nodeID: string, log: string[]) {
  return defineService({
    name: "billing",
    events: {
      "invoice.due": {
        handler: (ctx: Context) => void log.push(`${nodeID}:${String(ctx.params.account)}`),
      },
    },
  });
}

describe("event groups are picked by the broker's strategy", () => {
  const cluster = createTestCluster();
  afterEach(() => cluster.stop());

  async function threeInstances(emitterOptions: Parameters<typeof cluster.node>[1]) {
    const log: string[] = [];
    for (const id of ["a", "b", "c"]) cluster.node(id).createService(billing(id, log));
    const emitter = cluster.node(`emitter-${cluster.nodes.size}`, emitterOptions);
    await cluster.start();
    await until(() => emitter.registry.remote.listenersFor("invoice.due").length === 3, {
      message: "the emitter to know all three instances",
    });
    return { log, emitter };
  }

  it("shard by a payload field: one account's events always reach the same instance", async () => {
    const { log, emitter } = await threeInstances({ strategy: { name: "shard", key: "account" } });
    const accounts = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
    for (let round = 0; round < 3; round++)
      for (const account of accounts) await emitter.emit("invoice.due", { account });
    await until(() => log.length === accounts.length * 3, { message: "every event handled" });

    const handlers = new Map<string, Set<string>>();
    for (const entry of log) {
      const [node, account] = entry.split(":") as [string, string];
      handlers.set(account, (handlers.get(account) ?? new Set()).add(node));
    }
    for (const account of accounts) expect(handlers.get(account)?.size).toBe(1);
  });

  it("round-robin: the instances of a group take turns, one handler per event", async () => {
    const { log, emitter } = await threeInstances({ strategy: "round-robin" });
    for (let i = 0; i < 9; i++) await emitter.emit("invoice.due", { account: i });
    await until(() => log.length === 9, { message: "every event handled" });
    const perNode = ["a", "b", "c"].map((n) => log.filter((l) => l.startsWith(`${n}:`)).length);
    expect(perNode).toEqual([3, 3, 3]);
  });

  it("a strategy of your own decides for events too", async () => {
    const { log, emitter } = await threeInstances({
      strategy: {
        name: "always-b",
        select: (candidates) => candidates.find((c) => c.nodeID === "b") ?? candidates[0]!,
      },
    });
    for (let i = 0; i < 4; i++) await emitter.emit("invoice.due", { account: i });
    await until(() => log.length === 4, { message: "every event handled" });
    expect(log.every((l) => l.startsWith("b:"))).toBe(true);
  });
});
