import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineService, ServiceBroker } from "../../src/index.js";
import { until } from "../harness/index.js";
import { cli, root } from "./helpers.js";

// `flotilla run --watch` in a child process, in a project of its own (a temporary folder whose
// node_modules/flotilla is this package), and a node of the test's own in the same cluster.
const project = mkdtempSync(join(tmpdir(), "flotilla-watch-"));
const fixtures = join(root, "test/cli/fixtures/watch");
const transporter = `tcp://?udp=false&dir=${encodeURIComponent(join(project, ".tcp"))}`;
const namespace = `watch-${process.pid}`;
let child: ChildProcess;
let output = "";
let broker: ServiceBroker;
/** Nodes the test's node saw leave the cluster. */
const left: string[] = [];

const file = (name: string) => join(project, name);
const edit = (name: string, from: string, to: string) => {
  const text = readFileSync(file(name), "utf8");
  if (!text.includes(from)) throw new Error(`${name} has no '${from}'`);
  writeFileSync(file(name), text.replace(from, to));
};
const add = () => broker.call("math.add", { a: 2, b: 3 }).catch((err: Error) => err);

beforeAll(async () => {
  writeFileSync(file("package.json"), JSON.stringify({ type: "module" }));
  mkdirSync(file("node_modules"));
  symlinkSync(root, file("node_modules/flotilla"), "dir");
  for (const name of ["math.ts", "factor.ts", "other.ts"]) {
    copyFileSync(join(fixtures, name), file(name));
  }
  child = spawn(
    process.execPath,
    [cli, "run", "math.ts", "other.ts", "--watch", "--node-id", "watched"],
    {
      cwd: project,
      env: {
        ...process.env,
        FLOTILLA_TRANSPORTER: transporter,
        FLOTILLA_NAMESPACE: namespace,
        FLOTILLA_LOG_LEVEL: "info",
        NO_COLOR: "1",
      },
    },
  );
  const collect = (d: Buffer) => {
    output += d;
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  await until(
    () => {
      if (exited) throw new Error(`flotilla run --watch exited:\n${output}`);
      return output.includes("Watching 3 file(s)");
    },
    { timeout: 20_000, message: "the watching node" },
  );
  broker = new ServiceBroker({ nodeID: `watch-test-${process.pid}`, transporter, namespace });
  broker.createService(
    defineService({
      name: "watcher",
      events: {
        "$node.disconnected": {
          handler: (ctx) => void left.push((ctx.params as { nodeID: string }).nodeID),
        },
      },
    }),
  );
  await broker.start();
  await until(async () => (await add()) === 5, { timeout: 10_000, message: "math.add = 5" });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  child?.kill("SIGKILL");
  rmSync(project, { recursive: true, force: true });
});

describe("flotilla run --watch", () => {
  it("reloads an edited service while the node's other service keeps answering", async () => {
    let calls = 0;
    const failures: unknown[] = [];
    let looping = true;
    const loop = (async () => {
      while (looping) {
        try {
          expect(await broker.call("other.ping", {})).toBe("pong");
          calls++;
        } catch (err) {
          failures.push(err);
          // A call refused at once never leaves the microtask queue: let timers and I/O run.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    })();
    try {
      edit("math.ts", "(a + b) * factor", "(a + b) * factor * 100");
      await until(async () => (await add()) === 500, { timeout: 15_000, message: "new math.add" });
    } finally {
      looping = false;
      await loop;
    }
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(10);
    expect(output).toContain("Reloaded service 'math' from math.ts");
    expect(output).not.toContain("Reloaded service 'other'");
    // The node stayed in the cluster all along: the test node never saw it leave.
    expect(output).not.toContain("Node 'watched' stopped");
    expect(broker.registry.remote.nodes.has("watched")).toBe(true);
    expect(left).toEqual([]);
  });

  it("keeps the running version when the new one has a syntax error, and says where", async () => {
    const before = await add();
    edit("math.ts", "return (a + b)", "return (a + b +;");
    // The error and where it is (the lines may come in separate chunks).
    await until(
      () =>
        output.includes("cannot reload math.ts; the running version stays") &&
        /at math\.ts:\d+:\d+/.test(output),
      { timeout: 15_000, message: "the reload error, with its file:line:column" },
    );
    expect(await add()).toBe(before);
    // The next good save loads.
    edit("math.ts", "return (a + b +;", "return 7 + (a + b)");
    await until(async () => (await add()) === 507, {
      timeout: 15_000,
      message: "the fixed math.add",
    });
  });

  it("reloads a service when a module it imports changes", async () => {
    expect(await add()).toBe(507);
    edit("factor.ts", "factor: number = 1", "factor: number = 2");
    await until(async () => (await add()) === 1007, { timeout: 15_000, message: "new factor" });
    const reloads = output.match(/Reloaded service 'math'/g)?.length ?? 0;
    expect(reloads).toBe(3);
  });
});
