import { randomUUID } from "node:crypto";
import { stripVTControlCharacters } from "node:util";
import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { createTestCluster } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { list } from "../../src/cli/list.js";
import { Output } from "../../src/cli/output.js";
import { deprecatedRows, deprecatedUsage } from "../../src/contracts/deprecated.js";
import { until } from "../harness/index.js";

// Two versions of one service side by side: `v1.users` and `v2.users` on their own nodes, calls
// routed by the version in the name, and v1's `get` deprecated, so its owner sees who still
// calls it (log, health, metrics, announcement, and the cluster-wide listing).

const usersV1 = defineService({
  name: "users",
  version: 1,
  actions: {
    get: {
      deprecated: "use v2.users.get",
      params: z.object({ id: z.number() }),
      handler: (ctx) => ({ id: ctx.params.id, name: "Ada Lovelace", node: ctx.broker.nodeID }),
    },
    count: { handler: () => 1 },
  },
  events: {
    "user.renamed": { deprecated: true, handler: () => undefined },
  },
});

const usersV2 = defineService({
  name: "users",
  version: 2,
  actions: {
    get: {
      params: z.object({ id: z.number() }),
      handler: (ctx) => ({
        id: ctx.params.id,
        first: "Ada",
        last: "Lovelace",
        node: ctx.broker.nodeID,
      }),
    },
  },
});

const orders = defineService({
  name: "orders",
  actions: {
    place: {
      async handler(ctx) {
        const user = await ctx.call<{ name: string }>("v1.users.get", { id: 7 });
        await ctx.emit("user.renamed", { id: 7 });
        return { for: user.name };
      },
    },
  },
});

const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((b) => b.stop()));
});

function node(nodeID: string, options: BrokerOptions): ServiceBroker {
  const broker = new ServiceBroker({ logger: false, nodeID, ...options });
  live.push(broker);
  return broker;
}

/** JSON lines a broker logs at `warn` and above. */
function warnings(): { lines: Record<string, unknown>[]; logger: BrokerOptions["logger"] } {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    logger: {
      level: "warn",
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    },
  };
}

describe("two versions of a service side by side", () => {
  it("routes each call by the version in its name, over tcp://", async () => {
    const ns = `versions-${randomUUID().slice(0, 8)}`;
    const options = { namespace: ns, transporter: "tcp://?udp=false" };
    node("n-v1", options).createService(usersV1);
    node("n-v2", options).createService(usersV2);
    const client = node("n-client", options);
    await Promise.all(live.map((b) => b.start()));
    await client.waitForServices(["v1.users", "v2.users"], 10_000);

    for (let i = 0; i < 3; i++) {
      await expect(client.call("v1.users.get", { id: i })).resolves.toEqual({
        id: i,
        name: "Ada Lovelace",
        node: "n-v1",
      });
      await expect(client.call("v2.users.get", { id: i })).resolves.toEqual({
        id: i,
        first: "Ada",
        last: "Lovelace",
        node: "n-v2",
      });
    }
    // Only the versioned names exist: a caller names the version it was written against.
    await expect(client.call("users.get", { id: 1 })).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });
    await expect(client.call("v2.users.count")).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });
  });

  it("warns once per caller of a deprecated action, counts every call, and lists the callers cluster-wide", async () => {
    const bus = `memory://versions-${randomUUID().slice(0, 8)}`;
    const log = warnings();
    const v1 = node("n-v1", { transporter: bus, logger: log.logger, metrics: true });
    v1.createService(usersV1);
    node("n-v2", { transporter: bus }).createService(usersV2);
    node("n-orders", { transporter: bus }).createService(orders);
    const script = node("n-script", { transporter: bus });
    await Promise.all(live.map((b) => b.start()));
    await script.waitForServices(["v1.users", "v2.users", "orders"]);

    for (let i = 0; i < 3; i++) await script.call("orders.place");
    for (let i = 0; i < 2; i++) await script.call("v1.users.get", { id: 1 });
    await script.call("v2.users.get", { id: 1 });
    await script.call("v1.users.count");

    // Warned once per caller: `orders` (a service) and the script's node (no service).
    await until(() => v1.health().deprecated.find((d) => d.kind === "event")?.calls === 3, {
      message: "the three deliveries of user.renamed",
    });
    const deprecatedWarnings = log.lines.filter((l) => /^Deprecated/.test(String(l.msg)));
    expect(deprecatedWarnings.map((l) => `${l.action ?? l.event} by ${l.caller}`).sort()).toEqual([
      "user.renamed by orders",
      "v1.users.get by n-script",
      "v1.users.get by orders",
    ]);
    const byScript = deprecatedWarnings.find((l) => l.caller === "n-script");
    expect(byScript?.msg).toBe(
      "Deprecated action 'v1.users.get' called by 'n-script' (use v2.users.get); counted in broker.health().deprecated, warned once per caller",
    );

    // Every call counted, per caller and calling node; members not deprecated are not there.
    expect(v1.health().deprecated).toEqual([
      {
        kind: "event",
        name: "user.renamed",
        hint: undefined,
        caller: "orders",
        callerNodeID: "n-orders",
        calls: 3,
      },
      {
        kind: "action",
        name: "v1.users.get",
        hint: "use v2.users.get",
        caller: "n-script",
        callerNodeID: "n-script",
        calls: 2,
      },
      {
        kind: "action",
        name: "v1.users.get",
        hint: "use v2.users.get",
        caller: "orders",
        callerNodeID: "n-orders",
        calls: 3,
      },
    ]);

    const metrics = ((await v1.metrics?.text()) ?? "")
      .split("\n")
      .filter((line) => line.startsWith("flotilla_deprecated_"));
    expect(metrics.sort()).toEqual([
      'flotilla_deprecated_calls_total{action="v1.users.get",caller="n-script"} 2',
      'flotilla_deprecated_calls_total{action="v1.users.get",caller="orders"} 3',
      'flotilla_deprecated_events_total{event="user.renamed",caller="orders"} 3',
    ]);

    // The announcement marks it: other nodes' catalogues say so.
    const catalog = script.registry.catalog();
    expect(catalog.find((a) => a.name === "v1.users.get")?.deprecated).toBe("use v2.users.get");
    expect(catalog.find((a) => a.name === "v2.users.get")?.deprecated).toBeUndefined();

    // The cluster-wide listing: each deprecated member, who calls it and how often.
    const report = await deprecatedUsage(script);
    expect(report.unreachable).toEqual([]);
    expect(report.members).toEqual([
      {
        kind: "event",
        name: "user.renamed",
        hint: undefined,
        nodeIDs: ["n-v1"],
        callers: [{ caller: "orders", callerNodeID: "n-orders", calls: 3 }],
      },
      {
        kind: "action",
        name: "v1.users.get",
        hint: "use v2.users.get",
        nodeIDs: ["n-v1"],
        callers: [
          { caller: "orders", callerNodeID: "n-orders", calls: 3 },
          { caller: "n-script", callerNodeID: "n-script", calls: 2 },
        ],
      },
    ]);
    expect(deprecatedRows(report).map((r) => [r.name, r.caller, r.calls])).toEqual([
      ["user.renamed", "orders", 3],
      ["v1.users.get", "orders", 3],
      ["v1.users.get", "n-script", 2],
    ]);
  });

  it("lists a deprecated member nobody calls with no callers, once every instance is asked", async () => {
    const bus = `memory://versions-${randomUUID().slice(0, 8)}`;
    node("n-v1a", { transporter: bus }).createService(usersV1);
    node("n-v1b", { transporter: bus }).createService(usersV1);
    const script = node("n-script", { transporter: bus });
    await Promise.all(live.map((b) => b.start()));
    await script.waitForServices("v1.users");
    await until(
      () => script.registry.catalog().find((a) => a.name === "v1.users.get")?.nodeIDs.length === 2,
      { message: "both v1 instances announced" },
    );

    const report = await deprecatedUsage(script);
    expect(report.members.map((m) => [m.name, m.nodeIDs, m.callers])).toEqual([
      ["user.renamed", ["n-v1a", "n-v1b"], []],
      ["v1.users.get", ["n-v1a", "n-v1b"], []],
    ]);
    expect(deprecatedRows(report).map((r) => r.calls)).toEqual([0, 0]);
  });

  it("names the nodes that did not answer, keeping what their announcements said", async () => {
    const cluster = createTestCluster();
    cluster.node("n-v1").createService(usersV1);
    const script = cluster.node("n-script");
    try {
      await cluster.start();
      await script.waitForServices("v1.users");
      cluster.partition("n-script", "n-v1");
      const report = await deprecatedUsage(script, { timeout: 200 });
      expect(report.unreachable).toEqual([
        { nodeID: "n-v1", error: expect.stringContaining("$deprecations.usage") },
      ]);
      expect(report.members.map((m) => [m.name, m.nodeIDs, m.callers])).toEqual([
        ["user.renamed", ["n-v1"], []],
        ["v1.users.get", ["n-v1"], []],
      ]);
    } finally {
      await cluster.stop();
    }
  });

  it("flotilla actions shows which actions are deprecated, and hides Flotilla's own services", async () => {
    const bus = `memory://versions-${randomUUID().slice(0, 8)}`;
    node("n-v1", { transporter: bus }).createService(usersV1);
    node("n-v2", { transporter: bus }).createService(usersV2);
    await Promise.all(live.map((b) => b.start()));

    const parsed = {
      options: { transporter: bus, wait: 2_000 },
      positionals: [],
      params: {},
      help: false,
    };
    const run = async (terminal: boolean) => {
      const printed: string[] = [];
      const stream = { isTTY: terminal, write: (text: string) => printed.push(text) > 0 };
      const out = new Output({}, stream, { isTTY: false, write: () => true }, {});
      await expect(list("actions", parsed, out)).resolves.toBe(0);
      return stripVTControlCharacters(printed.join(""));
    };

    const actions = JSON.parse(await run(false)) as { name: string; deprecated?: unknown }[];
    expect(actions.map((a) => [a.name, a.deprecated])).toEqual([
      ["v1.users.count", undefined],
      ["v1.users.get", "use v2.users.get"],
      ["v2.users.get", undefined],
    ]);
    const table = (await run(true)).trimEnd().split("\n");
    expect(table[0]).toMatch(/^ACTION +VISIBILITY +REST +NODES +DEPRECATED$/);
    expect(table.slice(1)).toEqual([
      expect.stringMatching(/^v1\.users\.count +public +- +n-v1 +-$/),
      expect.stringMatching(/^v1\.users\.get +public +- +n-v1 +use v2\.users\.get$/),
      expect.stringMatching(/^v2\.users\.get +public +- +n-v2 +-$/),
    ]);
  });
});
