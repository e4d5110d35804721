import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, type Result, root, flotilla as run } from "../cli/helpers.js";
import { freePort } from "../harness/index.js";

// Runs the built `flotilla` command (npm test builds dist/ first) as a user would, in separate
// processes over the default tcp:// transporter, in a private rendezvous directory.
const dir = mkdtempSync(join(tmpdir(), "flotilla-cli-"));
const env = {
  ...process.env,
  FLOTILLA_TCP_DIR: dir,
  FLOTILLA_NAMESPACE: `cli-${process.pid}`,
  FLOTILLA_LOG_LEVEL: "warn",
  FLOTILLA_TRANSPORTER: "tcp://?udp=false",
};

/** Runs `flotilla ...args` to the end, in this file's cluster. */
const flotilla = (...args: string[]): Promise<Result> => run(args, { env });

/** Starts `flotilla run` and resolves once its node says it started. */
function runService(file: string, nodeID: string, extra: string[] = []): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "run", file, "--node-id", nodeID, ...extra], {
      env: { ...env, FLOTILLA_LOG_LEVEL: "info" },
      cwd: root,
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      if (out.includes(`Node '${nodeID}' started`)) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`${file} exited with ${code}: ${out}`)));
  });
}

const services: ChildProcess[] = [];

beforeAll(async () => {
  services.push(await runService("examples/hello/math.ts", "cli-math"));
  services.push(await runService("examples/hello/greeter.ts", "cli-greeter"));
}, 60_000);

afterAll(() => {
  for (const child of services) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("flotilla CLI", () => {
  it("calls an action in another process and prints the JSON result", async () => {
    const res = await flotilla("call", "greeter.welcome", "--name", "Ada");
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toBe("Welcome, Ada! Your lucky number is 43.");
  });

  it("takes params as JSON too", async () => {
    const res = await flotilla("call", "math.add", '{"a": 40, "b": 2}');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toBe(42);
  });

  it("prints a failed call's error with its code and exits 1", async () => {
    const res = await flotilla("call", "math.add", "--a", "x", "--b", "2");
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stderr).error).toMatchObject({
      code: "VALIDATION_ERROR",
      status: 422,
      data: [{ path: ["a"] }],
    });
    const missing = await flotilla("call", "math.nothing", "--wait", "200");
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe("SERVICE_NOT_FOUND");
  });

  it("lists nodes, services and actions the registry sees", async () => {
    const nodes = JSON.parse((await flotilla("nodes", "--wait", "3000")).stdout) as {
      nodeID: string;
    }[];
    expect(nodes.map((n) => n.nodeID)).toEqual(expect.arrayContaining(["cli-math", "cli-greeter"]));
    const svcs = JSON.parse((await flotilla("services", "--wait", "3000")).stdout) as {
      name: string;
    }[];
    expect(svcs.map((s) => s.name)).toEqual(expect.arrayContaining(["greeter", "math"]));
    const actions = JSON.parse((await flotilla("actions", "--wait", "3000")).stdout) as {
      name: string;
    }[];
    expect(actions.map((a) => a.name)).toEqual(
      expect.arrayContaining(["greeter.welcome", "math.add"]),
    );
  });

  it("emits an event into the cluster", async () => {
    const res = await flotilla(
      "emit",
      "math.added",
      "--a",
      "1",
      "--b",
      "2",
      "--sum",
      "3",
      "--wait",
      "3000",
    );
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ emitted: "math.added" });
  });

  it("exits 2 with one line and a pointer to the help on bad usage", async () => {
    const res = await flotilla("frobnicate");
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      "flotilla: unknown command 'frobnicate'\nRun 'flotilla --help' for usage.\n",
    );
  });

  it("forks several instances with --instances, each with its own node ID", async () => {
    const child = spawn(
      process.execPath,
      [cli, "run", "examples/hello/math.ts", "--instances", "2", "--node-id", "multi"],
      {
        env,
        cwd: root,
      },
    );
    try {
      const deadline = Date.now() + 20_000;
      let ids: string[] = [];
      while (Date.now() < deadline && !(ids.includes("multi-1") && ids.includes("multi-2"))) {
        const res = await flotilla("nodes", "--wait", "1500");
        ids = (JSON.parse(res.stdout || "[]") as { nodeID: string }[]).map((n) => n.nodeID);
      }
      expect(ids).toEqual(expect.arrayContaining(["multi-1", "multi-2"]));
    } finally {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });

  it("serves health probes with --health-port", async () => {
    const port = await freePort();
    const child = await runService("examples/hello/math.ts", "cli-math-health", [
      "--health-port",
      String(port),
      "--health-host",
      "127.0.0.1",
    ]);
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        nodeID: "cli-math-health",
        ready: true,
        services: { math: "started" },
      });
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
  });

  it("stops cleanly on SIGTERM", async () => {
    const child = await runService("examples/hello/math.ts", "cli-math-2");
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
  });
});
