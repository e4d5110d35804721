import { type ChildProcess, fork } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, expect, it } from "vitest";
import { waitUntil } from "./helpers.js";

const fixture = fileURLToPath(new URL("./fixtures/tcp-node.ts", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

const children: ChildProcess[] = [];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "flotilla-proc-"));
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

/** A node in a child process, and what it reported over IPC. */
function startNode(nodeID: string, peer: string) {
  const child = fork(fixture, [], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    // Only the directory comes from the environment; UDP stays off so nothing leaves loopback.
    env: {
      ...process.env,
      FLOTILLA_TCP_DIR: dir,
      TRANSPORTER_URL: "tcp://?udp=false&host=127.0.0.1",
      NODE_ID: nodeID,
      PEER_ID: peer,
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(child);
  const reports: unknown[] = [];
  child.on("message", (m) => reports.push(m));
  /** Resolves once the node reported `report`; rejects if it exits first. */
  const reported = (report: object) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!reports.some((r) => JSON.stringify(r) === JSON.stringify(report))) return;
        child.off("message", check);
        resolve();
      };
      child.on("message", check);
      child.once("exit", (code) => reject(new Error(`${nodeID} exited (${code}) first`)));
      check();
    });
  const exited = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", resolve);
    });
  return { child, reported, exited };
}

const entries = () => readdir(path.join(dir, "proc")).catch(() => []);

it("two processes with plain tcp:// find each other through the rendezvous directory", async () => {
  const a = startNode("proc-a", "proc-b");
  const b = startNode("proc-b", "proc-a");
  await Promise.all([a.reported({ greetedBy: "proc-b" }), b.reported({ greetedBy: "proc-a" })]);
  for (const node of [a, b]) node.child.send("stop");
  expect(await Promise.all([a.exited(), b.exited()])).toEqual([0, 0]);
  expect(await entries()).toEqual([]); // each removed its own entry on the way out
}, 20_000);

it("a process that is killed is reported down, and its entry is cleared away", async () => {
  const a = startNode("proc-a", "proc-b");
  const b = startNode("proc-b", "proc-a");
  await Promise.all([a.reported({ greetedBy: "proc-b" }), b.reported({ greetedBy: "proc-a" })]);
  b.child.kill("SIGKILL");
  await a.reported({ lost: "proc-b" });
  await waitUntil(async () => (await entries()).join() === "proc-a.json", "the stale entry to go");
}, 20_000);
