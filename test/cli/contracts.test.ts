import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { flotilla, type Node, root, runNode } from "./helpers.js";

// `flotilla contracts snapshot | check`, run as a user runs it, on service files in a project of
// its own (a temp folder whose node_modules links this package and the libraries services use).

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A project folder with `files` written into it, resolving `flotilla` to this package. */
function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-contracts-cli-"));
  folders.push(dir);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(root, join(dir, "node_modules", "flotilla"), "dir");
  for (const lib of ["zod", "kysely", "jose", "nodemailer", "smtp-server"])
    symlinkSync(join(root, "node_modules", lib), join(dir, "node_modules", lib), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const math = (round: "optional" | "required") => `import { defineService } from "flotilla";
import { z } from "zod";

export default defineService({
  name: "math",
  emits: { "math.added": z.object({ sum: z.number() }) },
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number(), round: z.boolean()${round === "optional" ? ".optional()" : ""} }),
      returns: z.number(),
      handler: (ctx) => ctx.params.a + ctx.params.b,
    },
  },
});
`;

const greeter = `import { defineService } from "flotilla";
import { z } from "zod";

export default defineService({
  name: "greeter",
  dependencies: ["math"],
  actions: {
    welcome: {
      params: z.object({ name: z.string() }),
      async handler(ctx) {
        const lucky = await ctx.call("math.add", { a: 1, b: 2 });
        return \`Welcome, \${ctx.params.name}: \${lucky}\`;
      },
    },
  },
  events: { "math.added": { params: z.object({ sum: z.number() }), handler() {} } },
});
`;

const legacy = `import { defineService } from "flotilla";

export default defineService({
  name: "legacy",
  actions: { ping: { deprecated: "use greeter.welcome", handler: () => "pong" } },
});
`;

const env = { ...process.env, NO_COLOR: "1", FLOTILLA_LOG_LEVEL: "warn" };

describe("flotilla contracts", () => {
  it("snapshots service files into a sorted file that a check of the same files accepts", async () => {
    const cwd = project({ "math.ts": math("optional"), "greeter.ts": greeter });
    const snap = await flotilla(["contracts", "snapshot", "math.ts", "greeter.ts"], { cwd, env });
    expect(snap.stderr).toBe("");
    expect(snap.code).toBe(0);
    expect(JSON.parse(snap.stdout)).toEqual({
      written: ["contracts.json"],
      services: ["greeter", "math"],
    });
    const written = JSON.parse(readFileSync(join(cwd, "contracts.json"), "utf8"));
    expect(Object.keys(written.services)).toEqual(["greeter", "math"]);
    expect(written.services.math.actions.add).toMatchObject({
      params: { required: ["a", "b"] },
      result: { type: "number" },
    });
    expect(written.services.math.emits["math.added"]).toMatchObject({ required: ["sum"] });
    expect(written.services.greeter.dependencies).toEqual(["math"]);

    const same = await flotilla(
      ["contracts", "check", "math.ts", "greeter.ts", "--against", "contracts.json"],
      { cwd, env },
    );
    expect(same.code).toBe(0);
    expect(same.stdout).toContain("0 breaking changes, 0 compatible");
    expect(same.stdout).toContain("No changes.");
  }, 60_000);

  it("fails when a param becomes required, naming the action, the field and the callers", async () => {
    const cwd = project({
      "math.ts": math("optional"),
      "greeter.ts": greeter,
      "next/math.ts": math("required"),
    });
    const snap = await flotilla(["contracts", "snapshot", "math.ts", "greeter.ts"], { cwd, env });
    expect(snap.code).toBe(0);
    const res = await flotilla(
      ["contracts", "check", "next/math.ts", "greeter.ts", "--against", "contracts.json"],
      { cwd, env },
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toContain("1 breaking change, 0 compatible");
    expect(res.stdout).toContain("BREAKING  action math.add  params.round");
    expect(res.stdout).toContain(
      "why:     became required (it was optional): callers that leave it out are refused",
    );
    expect(res.stdout).toContain("callers: greeter (calls it in greeter.ts:11)");

    const json = await flotilla(
      ["contracts", "check", "next/math.ts", "greeter.ts", "--against", "contracts.json", "--json"],
      { cwd, env },
    );
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      before: "contracts.json",
      after: "next/math.ts greeter.ts",
      breaking: 1,
      changes: [
        {
          kind: "action",
          name: "math.add",
          part: "params",
          path: "round",
          breaking: true,
          affects: "callers",
          affected: [{ service: "greeter", how: "calls it in greeter.ts:11" }],
        },
      ],
    });
  }, 60_000);

  it("catches it in a copy of the shop: the checkout's coupon made required", async () => {
    const cwd = project();
    cpSync(join(root, "examples/shop/services"), join(cwd, "services"), { recursive: true });
    cpSync(join(root, "examples/shop/shared"), join(cwd, "shared"), { recursive: true });
    const services = "services/*/service.ts";
    const snap = await flotilla(["contracts", "snapshot", services, "--out", "shop.json"], {
      cwd,
      env,
    });
    expect(snap.code).toBe(0);
    expect(JSON.parse(snap.stdout).services).toEqual([
      "coupons",
      "email",
      "mailbox",
      "orders",
      "products",
      "users",
    ]);
    const edit = (file: string, from: string, to: string) => {
      const text = readFileSync(join(cwd, file), "utf8");
      expect(text).toContain(from);
      writeFileSync(join(cwd, file), text.replace(from, to));
    };
    edit(
      "services/orders/service.ts",
      "coupon: z.string().trim().max(64).optional(),",
      "coupon: z.string().trim().max(64),",
    );
    edit(
      "services/products/service.ts",
      "orderId: z.string().min(1),\n        items:",
      "orderId: z.string().min(1),\n        note: z.string(),\n        items:",
    );
    const res = await flotilla(["contracts", "check", services, "--against", "shop.json"], {
      cwd,
      env,
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain("2 breaking changes");
    expect(res.stdout).toContain("BREAKING  action orders.checkout  params.coupon");
    expect(res.stdout).toContain("callers: HTTP clients of POST /orders");
    expect(res.stdout).toContain("BREAKING  action products.reserve  params.note");
    expect(res.stdout).toMatch(/callers: orders \(calls it in services\/orders\/saga\.ts:\d+\)/);
  }, 120_000);

  it("reads a running cluster, checks files against it naming the callers' nodes, lists deprecated use", async () => {
    const cwd = project({
      "math.ts": math("optional"),
      "greeter.ts": greeter,
      "next/math.ts": math("required"),
      "legacy.ts": legacy,
    });
    const cluster = {
      ...env,
      FLOTILLA_TCP_DIR: join(cwd, "rendezvous"),
      FLOTILLA_NAMESPACE: `contracts-${process.pid}`,
      FLOTILLA_TRANSPORTER: "tcp://?udp=false",
    };
    const nodes: Node[] = [];
    try {
      nodes.push(await runNode([join(cwd, "math.ts")], "math-node", cluster));
      nodes.push(await runNode([join(cwd, "greeter.ts")], "greeter-node", cluster));
      const snap = await flotilla(["contracts", "snapshot", "--out", "-"], { cwd, env: cluster });
      expect(snap.code).toBe(0);
      const fromCluster = JSON.parse(snap.stdout);
      expect(Object.keys(fromCluster.services)).toEqual(["greeter", "math"]);
      expect(fromCluster.services.math.actions.add.params.required).toEqual(["a", "b"]);

      // Only math is checked; greeter, running in the cluster, is still known as its caller.
      const res = await flotilla(["contracts", "check", "next/math.ts", "--against", "cluster"], {
        cwd,
        env: cluster,
      });
      expect(res.code).toBe(1);
      expect(res.stdout).toContain("1 breaking change");
      expect(res.stdout).toContain("BREAKING  action math.add  params.round");
      expect(res.stdout).toContain("callers: greeter (depends on math; nodes: greeter-node)");

      // Who still calls a deprecated action: one call from a script, counted on its node.
      nodes.push(await runNode([join(cwd, "legacy.ts")], "legacy-node", cluster));
      const called = await flotilla(["call", "legacy.ping", "--node-id", "old-script"], {
        cwd,
        env: cluster,
      });
      expect(called.code).toBe(0);
      const used = await flotilla(["contracts", "deprecated", "--json"], { cwd, env: cluster });
      expect(used.code).toBe(0);
      expect(JSON.parse(used.stdout).members).toEqual([
        expect.objectContaining({
          kind: "action",
          name: "legacy.ping",
          hint: "use greeter.welcome",
          callers: [expect.objectContaining({ callerNodeID: "old-script", calls: 1 })],
        }),
      ]);
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  }, 90_000);

  it("refuses bad usage and files that are not snapshots", async () => {
    const cwd = project({ "math.ts": math("optional"), "bad.json": '{"flotilla": 1}' });
    const none = await flotilla(["contracts"], { cwd, env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("missing: snapshot, check or deprecated");
    const noAgainst = await flotilla(["contracts", "check", "math.ts"], { cwd, env });
    expect(noAgainst.code).toBe(2);
    expect(noAgainst.stderr).toContain("missing --against");
    const bad = await flotilla(["contracts", "check", "math.ts", "--against", "bad.json"], {
      cwd,
      env,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("bad.json is not a contract snapshot: at .flotilla");
  }, 60_000);
});
