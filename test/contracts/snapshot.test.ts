import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContractSnapshotError, defineService } from "flotilla";
import { createTestCluster } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { checkCompatibility } from "../../src/contracts/compat.js";
import { formatReport } from "../../src/contracts/report.js";
import {
  type ContractSnapshot,
  contractOfDefinition,
  contractOfDescriptor,
  snapshotOf,
} from "../../src/contracts/snapshot.js";
import { formatSnapshot, readSnapshot, writeSnapshot } from "../../src/contracts/snapshot-file.js";

const Order = z.object({ orderId: z.string(), total: z.number() });

/** Version 1 of a small system: orders calls billing, email handles what orders emits. */
function system(changes: { couponRequired?: boolean; dropTotal?: boolean } = {}) {
  const billing = defineService({
    name: "billing",
    version: 2,
    actions: {
      charge: {
        params: z.object({
          orderId: z.string(),
          coupon: changes.couponRequired ? z.string() : z.string().optional(),
        }),
        returns: z.object({ charged: z.number(), receipt: z.string() }),
        rest: "POST /charges",
        visibility: "published",
        handler: () => ({ charged: 1, receipt: "r" }),
      },
      audit: { visibility: "protected", handler: () => null },
    },
  });
  const orders = defineService({
    name: "orders",
    dependencies: [{ name: "billing", version: 2 }],
    emits: { "orders.created": changes.dropTotal ? Order.omit({ total: true }) : Order },
    actions: { place: { handler: () => "ok" } },
  });
  const email = defineService({
    name: "email",
    events: { "orders.*": { params: z.object({ orderId: z.string() }), handler: () => {} } },
  });
  return [billing, orders, email];
}

const snapshotOfSystem = (changes?: Parameters<typeof system>[0]): ContractSnapshot =>
  snapshotOf(system(changes).map(contractOfDefinition));

let dir = "";
afterEach(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  dir = "";
});

describe("contract snapshots", () => {
  it("hold public actions' params and result schemas, handled and emitted events, dependencies", () => {
    const snapshot = snapshotOfSystem();
    expect(Object.keys(snapshot.services)).toEqual(["v2.billing", "orders", "email"]);
    const billing = snapshot.services["v2.billing"]!;
    expect(Object.keys(billing.actions)).toEqual(["charge"]); // protected actions are no contract
    expect(billing.actions.charge).toMatchObject({
      visibility: "published",
      rest: ["POST /charges"],
      params: { type: "object", required: ["orderId"] },
      result: { type: "object", required: ["charged", "receipt"] },
    });
    expect(snapshot.services.orders).toMatchObject({
      dependencies: ["v2.billing"],
      emits: { "orders.created": { required: ["orderId", "total"] } },
      actions: { place: { visibility: "public" } },
    });
    expect(snapshot.services.orders!.actions.place).not.toHaveProperty("params");
    expect(snapshot.services.email!.events["orders.*"]).toMatchObject({
      params: { required: ["orderId"] },
    });
  });

  it("are written with sorted keys, the same bytes for the same contracts, and read back", () => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    const file = join(dir, "contracts.json");
    writeSnapshot(file, snapshotOfSystem());
    const text = readFileSync(file, "utf8");
    expect(text.indexOf('"email"')).toBeLessThan(text.indexOf('"orders"'));
    expect(text.endsWith("}\n")).toBe(true);
    expect(readSnapshot(file)).toEqual(JSON.parse(text));
    expect(formatSnapshot(readSnapshot(file))).toBe(text);
  });

  it("can be one file per service in a folder, read back as one snapshot", () => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    const written = writeSnapshot(`${dir}/contracts/`, snapshotOfSystem());
    expect(written.map((f) => f.slice(dir.length + 1)).sort()).toEqual([
      "contracts/email.json",
      "contracts/orders.json",
      "contracts/v2.billing.json",
    ]);
    expect(readSnapshot(join(dir, "contracts"))).toEqual(
      JSON.parse(formatSnapshot(snapshotOfSystem())),
    );
  });

  it("refuse files that are not a snapshot, saying what is wrong", () => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    const cases: [string, RegExp][] = [
      ["{ not json", /not JSON/],
      ['{"flotilla":"other/1","services":{}}', /\.flotilla/],
      [
        '{"flotilla":"flotilla-contracts/1","services":{"a":{"name":"a"}}}',
        /services\.a\.dependencies/,
      ],
      [`${"[".repeat(1000)}${"]".repeat(1000)}`, /deeper/],
      [
        '{"flotilla":"flotilla-contracts/1","services":{"a":{"name":"b","dependencies":[],"actions":{},"events":{},"emits":{}}}}',
        /named 'b'/,
      ],
    ];
    for (const [text, problem] of cases) {
      const file = join(dir, "bad.json");
      writeFileSync(file, text);
      const err = (() => {
        try {
          readSnapshot(file);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ContractSnapshotError);
      expect(err).toMatchObject({ code: "INVALID_CONTRACT_SNAPSHOT" });
      expect((err as Error).message).toMatch(problem);
    }
  });

  it("read from a running cluster's announcements equal those read from the definitions", async () => {
    const cluster = createTestCluster();
    const services = system();
    cluster.node("a").createService(services[0]!);
    const b = cluster.node("b");
    b.createService(services[1]!);
    b.createService(services[2]!);
    const watcher = cluster.node("watcher");
    try {
      await cluster.start();
      await watcher.waitForServices(["v2.billing", "orders", "email"]);
      const announced = [...watcher.registry.remote.nodes.values()].flatMap((n) =>
        n.info.services.map(contractOfDescriptor),
      );
      const fromCluster = snapshotOf(announced);
      const fromFiles = snapshotOfSystem();
      for (const name of Object.keys(fromFiles.services))
        expect(fromCluster.services[name], name).toEqual(fromFiles.services[name]);
    } finally {
      await cluster.stop();
    }
  });
});

describe("checking two snapshots", () => {
  it("finds nothing between a snapshot and itself", () => {
    const report = checkCompatibility(snapshotOfSystem(), snapshotOfSystem());
    expect(report).toEqual({ changes: [], breaking: 0, compatible: 0 });
  });

  it("names the action, the field and the callers of a param made required", () => {
    const report = checkCompatibility(
      snapshotOfSystem(),
      snapshotOfSystem({ couponRequired: true }),
    );
    expect(report.breaking).toBe(1);
    expect(report.changes[0]).toMatchObject({
      kind: "action",
      name: "v2.billing.charge",
      part: "params",
      path: "coupon",
      breaking: true,
      affects: "callers",
      affected: [
        { service: "orders", how: "depends on v2.billing" },
        { how: "HTTP clients of POST /charges" },
      ],
    });
    const text = formatReport(report, { before: "v1", after: "v2" });
    expect(text).toContain("BREAKING  action v2.billing.charge  params.coupon");
    expect(text).toContain(
      "callers: orders (depends on v2.billing); HTTP clients of POST /charges",
    );
  });

  it("says which handlers break when an emitted payload loses a field", () => {
    const report = checkCompatibility(snapshotOfSystem(), snapshotOfSystem({ dropTotal: true }));
    expect(report.changes).toEqual([
      expect.objectContaining({
        kind: "event",
        name: "orders.created",
        part: "emits",
        path: "total",
        breaking: true,
        affects: "handlers",
        affected: [{ service: "email", how: "handles it" }],
      }),
    ]);
  });

  it("treats removed actions, events and routes as breaking and new ones as compatible", () => {
    const before = snapshotOfSystem();
    const after = structuredClone(before);
    delete after.services["v2.billing"]!.actions.charge;
    after.services["v2.billing"]!.actions.refund = { visibility: "public" };
    delete after.services.email!.events["orders.*"];
    after.services.orders!.emits["orders.cancelled"] = {};
    const report = checkCompatibility(before, after, {
      callSites: new Map([["v2.billing.charge", [{ service: "orders", file: "o.ts", line: 3 }]]]),
      nodes: new Map([["orders", ["node-1"]]]),
    });
    const summary = report.changes.map((c) => `${c.name} ${c.breaking ? "breaking" : "ok"}`);
    expect(summary).toEqual([
      "orders.* breaking",
      "orders.cancelled ok",
      "v2.billing.charge breaking",
      "v2.billing.refund ok",
    ]);
    const removed = report.changes.find((c) => c.name === "v2.billing.charge");
    expect(removed?.affected[0]).toEqual({
      service: "orders",
      how: "calls it in o.ts:3",
      nodes: ["node-1"],
    });
    const unhandled = report.changes.find((c) => c.name === "orders.*");
    expect(unhandled).toMatchObject({
      affects: "emitters",
      affected: [{ service: "orders", how: "declares it emits orders.*" }],
    });
  });

  it("falls back to 'any caller' when nobody is known", () => {
    const before = snapshotOf([
      contractOfDefinition(
        defineService({
          name: "solo",
          actions: { get: { params: z.object({ id: z.string() }), handler: () => 1 } },
        }),
      ),
    ]);
    const after = structuredClone(before);
    after.services.solo!.actions.get!.params = { type: "object", properties: {} };
    const report = checkCompatibility(before, after);
    expect(formatReport(report, { before: "a", after: "b" })).toContain(
      "callers: any caller of solo.get",
    );
  });
});
