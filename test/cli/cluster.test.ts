import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../harness/index.js";
import { flotilla, inTerminal, type Node, runNode } from "./helpers.js";

// Two nodes that both run `math`, with different actions, in a private rendezvous directory.
const dir = mkdtempSync(join(tmpdir(), "flotilla-cli-cluster-"));
const namespace = `cli-cluster-${process.pid}`;
const env = {
  ...process.env,
  FLOTILLA_TCP_DIR: dir,
  FLOTILLA_NAMESPACE: namespace,
  FLOTILLA_TRANSPORTER: "tcp://?udp=false",
  FLOTILLA_LOG_LEVEL: "warn",
  NO_COLOR: "1",
};
const nodes: Node[] = [];

beforeAll(async () => {
  nodes.push(await runNode(["test/cli/fixtures/math-add.ts"], "math-add", env));
  nodes.push(await runNode(["test/cli/fixtures/math-mul.ts"], "math-mul", env));
}, 60_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
  rmSync(dir, { recursive: true, force: true });
});

describe("flotilla in a cluster", () => {
  it("calls the node that has the action, when two define the service differently", async () => {
    for (let i = 0; i < 4; i++) {
      const res = await flotilla(["call", "math.add", "--a", "2", "--b", "3"], { env });
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toBe(5);
    }
  });

  it("warns on the nodes about the conflicting definitions", async () => {
    // The node that joined second saw the first one's INFO and its own definition differ.
    await nodes[1]!.waitFor(
      "Service 'math' is defined differently on nodes 'math-mul' and 'math-add' (only on 'math-mul': math.mul; only on 'math-add': math.add)",
    );
  });

  it("ends a call nobody serves with a hint: where it looked and for how long", async () => {
    // Long enough for the client to have met both nodes even on a loaded machine.
    const res = await flotilla(["call", "nosuch.action", "--wait", "2000"], { env });
    expect(res.code).toBe(1);
    // stderr also holds the client's own warnings (it sees the conflict too): take the error.
    const json = res.stderr.slice(res.stderr.indexOf('{\n  "error"'));
    const { error } = JSON.parse(json) as { error: { code: string; hint: string } };
    expect(error.code).toBe("SERVICE_NOT_FOUND");
    expect(error.hint).toContain(`no node offers 'nosuch.action' after waiting 2 s`);
    expect(error.hint).toContain(`tcp://?udp=false (namespace "${namespace}")`);
    expect(error.hint).toMatch(/saw 2 nodes \((math-add, math-mul|math-mul, math-add)\)/);
  });

  it("says where it looked when a listing finds no nodes", async () => {
    const res = await flotilla(["actions", "--wait", "300", "--namespace", "empty"], { env });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual([]);
    expect(res.stderr).toContain(
      `no nodes found on tcp://?udp=false (namespace "empty") after 300 ms. Are nodes running with the same --namespace and --transporter?`,
    );
  });

  it("prints aligned tables and a progress line on a terminal", async () => {
    const res = await inTerminal(["actions", "--wait", "3000"], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      `Discovering nodes on tcp://?udp=false (namespace "${namespace}")`,
    );
    // What remains of each line once the progress line has cleared itself.
    const lines = res.stdout.split("\n").map((l) => l.split("\x1b[2K").pop() ?? "");
    const header = lines.findIndex((l) => l.startsWith("ACTION"));
    expect(lines[header]).toMatch(/^ACTION +VISIBILITY +REST +NODES$/);
    expect(lines.slice(header + 1, header + 3)).toEqual([
      expect.stringMatching(/^math\.add +public +- +math-add$/),
      expect.stringMatching(/^math\.mul +public +- +math-mul$/),
    ]);
    const json = await inTerminal(["services", "--wait", "3000", "--json"], env);
    expect(json.stdout).toContain('"name": "math"');
  });

  it("stops gracefully on SIGHUP, removing its rendezvous entry and empty folder", async () => {
    const own = mkdtempSync(join(tmpdir(), "flotilla-cli-hup-"));
    const node = await runNode(["test/cli/fixtures/math-add.ts"], "hup", {
      ...env,
      FLOTILLA_TCP_DIR: own,
    });
    expect(readdirSync(join(own, namespace))).toEqual(["hup.json"]);
    expect(await node.stop("SIGHUP")).toBe(0);
    expect(node.output()).toContain("Node 'hup' stopped");
    expect(existsSync(join(own, namespace))).toBe(false);
    rmSync(own, { recursive: true, force: true });
  });

  it("stops within --drain-timeout when a call in flight never ends", async () => {
    const node = await runNode(
      ["test/cli/fixtures/hang.ts", "--drain-timeout", "300ms"],
      "hang",
      env,
    );
    const caller = flotilla(["call", "slow.hang", "--wait", "3000", "--timeout", "60000"], { env });
    await node.waitFor("hanging");
    expect(await node.stop("SIGTERM")).toBe(0);
    const warning = node
      .output()
      .split("\n")
      .find((line) => line.includes("Drain timeout passed"));
    expect(JSON.parse(warning ?? "{}")).toMatchObject({ inFlight: 1, drainTimeout: 300 });
    // The caller hears that the node stopped, instead of waiting out its own 60 s.
    expect((await caller).code).toBe(1);
  });

  it("warns when a tcp:// seed cannot be reached", async () => {
    const port = await freePort();
    const node = await runNode(["test/cli/fixtures/math-add.ts"], "seeker", {
      ...env,
      FLOTILLA_TRANSPORTER: `tcp://127.0.0.1:${port}?udp=false&rendezvous=false`,
    });
    try {
      await node.waitFor(`Seed 127.0.0.1:${port} is unreachable; retrying with backoff`);
    } finally {
      await node.stop();
    }
  });
});

describe("flotilla run with a module that does not load", () => {
  const work = mkdtempSync(join(tmpdir(), "flotilla-cli-bad-"));
  beforeAll(() => {
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(work, "syntax.ts"), "export const a = 1;\nlet = ;\n");
    writeFileSync(join(work, "syntax.mjs"), "export const a = 1;\nconst = 2;\n");
    writeFileSync(
      join(work, "throws.mjs"),
      'export const a = 1;\nfunction boot() {\n  throw new Error("no DATABASE_URL");\n}\nboot();\n',
    );
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    { file: "syntax.ts", at: "syntax.ts:2" },
    { file: "syntax.mjs", at: "syntax.mjs:2" },
    { file: "throws.mjs", at: "throws.mjs:3:9" },
  ])("reports $file as a local error with file and line", async ({ file, at }) => {
    const res = await flotilla(["run", file], { env, cwd: work });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`^error: cannot load ${file.replace(".", "\\.")}: `));
    expect(res.stderr).toContain(`  at ${at}`);
    expect(res.stderr).not.toContain("status");
    expect(res.stderr).toContain("(run with --verbose for the stack)");
  });

  it("prints the stack with --verbose", async () => {
    const res = await flotilla(["run", "throws.mjs", "--verbose"], { env, cwd: work });
    expect(res.stderr).toContain("Error: no DATABASE_URL\n    at boot (");
  });
});
