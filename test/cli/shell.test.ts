import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";
import { ShellPane } from "./fixtures/shell/tmux.js";
import { type Node, runNode } from "./helpers.js";

// `flotilla shell` as a user at a terminal meets it: a real pseudo-terminal (tmux), a cluster of
// one `flotilla run` node over tcp:// in a private rendezvous folder, keys in, screen out.

const dir = mkdtempSync(join(tmpdir(), "flotilla-shell-"));
const namespace = `shell-${process.pid}`;
const base = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  TERM: "xterm-256color",
  FLOTILLA_TCP_DIR: dir,
  FLOTILLA_NAMESPACE: namespace,
  FLOTILLA_TRANSPORTER: "tcp://?udp=false",
};
const env = { ...base, NO_COLOR: "1" };
const history = join(dir, "history");
let node: Node;
const panes: ShellPane[] = [];

function shell(extra: NodeJS.ProcessEnv = env, args: string[] = []): ShellPane {
  const pane = ShellPane.start(["--history", history, ...args], extra);
  panes.push(pane);
  return pane;
}

async function connected(pane: ShellPane): Promise<void> {
  // Another shell of the same test is a node too: at least one node, and the prompt.
  await pane.waitFor(/[1-9]\d* nodes? seen[\s\S]*flotilla:[\w-]+>/, 20_000);
}

beforeAll(async () => {
  node = await runNode(["test/cli/fixtures/shell/people.ts"], "people-1", {
    ...process.env,
    ...env,
  });
}, 60_000);

afterEach(() => {
  for (const pane of panes.splice(0)) pane.kill();
});

afterAll(async () => {
  await node.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("flotilla shell in a terminal", { timeout: 60_000 }, () => {
  it("completes a partial action name with Tab, then inserts the params skeleton", async () => {
    const pane = shell();
    await connected(pane);
    pane.type("call people.cr");
    pane.keys("Tab");
    await pane.waitFor("> call people.create ");
    pane.keys("Tab");
    await pane.waitFor('> call people.create {"name": "", "age": 0}');
  });

  it("prints a call's result; an error prints its code and the shell goes on", async () => {
    const pane = shell();
    await connected(pane);
    let screen = await pane.run('call people.create {"name": "Ada", "age": 36}');
    expect(screen).toContain('"greeting": "Hello, Ada (36)"');
    screen = await pane.run("call people.refuse");
    expect(screen).toContain(
      "error: Nobody may pass (PEOPLE_REFUSED, status 403, from node people-1)",
    );
    screen = await pane.run("call people.create --name Bob --age 7");
    expect(screen).toContain('"greeting": "Hello, Bob (7)"');
  });

  it("cancels a call that hangs with Ctrl-C and keeps going", async () => {
    const pane = shell();
    await connected(pane);
    const before = pane.prompts();
    pane.type("call people.hang");
    pane.keys("Enter");
    await until(() => pane.screen().includes("> call people.hang\n"), { message: "the call sent" });
    pane.keys("C-c");
    await pane.waitFor(
      "error: Call to 'people.hang' was cancelled: you pressed Ctrl-C. (CALL_ABORTED",
    );
    await until(() => pane.prompts() > before, { message: "the prompt again" });
    expect(await pane.run("call people.create --name Cy --age 1")).toContain("Hello, Cy (1)");
  });

  it("benches an action: calls/s and p50/p90/p99", async () => {
    const pane = shell();
    await connected(pane);
    const screen = await pane.run(
      "bench people.create --name A --age 1 --count 200 --concurrency 4",
      30_000,
    );
    expect(screen).toMatch(/people\.create: 200 calls in [\d.]+ s, concurrency 4/);
    expect(screen).toMatch(/[\d,]+ calls\/s/);
    expect(screen).toMatch(/latency {2}p50 [\d.]+ ms {2}p90 [\d.]+ ms {2}p99 [\d.]+ ms/);
  });

  it("shows the nodes as a table", async () => {
    const pane = shell();
    await connected(pane);
    const screen = await pane.run("nodes");
    expect(screen).toMatch(/^NODE +HOST +CPU +LATENCY +SERVICES$/m);
    expect(screen).toMatch(/^people-1 +\S+ +\d+% +\S+ +people$/m);
  });

  it("prints no escape codes with NO_COLOR, and colours with FORCE_COLOR", async () => {
    const plain = shell();
    await connected(plain);
    await plain.run("nodes");
    expect(plain.screen(true)).not.toContain("\x1b[");
    const coloured = shell({ ...base, FORCE_COLOR: "1" });
    await connected(coloured);
    await coloured.run("nodes");
    expect(coloured.screen(true)).toContain("\x1b[");
  });

  it("keeps history across a restart, and Ctrl-D leaves cleanly", async () => {
    rmSync(history, { force: true });
    const first = shell();
    await connected(first);
    const entry = `cli-${first.pid()}.json`;
    expect(readdirSync(join(dir, namespace))).toContain(entry);
    expect(await first.run("call people.create --name Remembered --age 9")).toContain(
      "Hello, Remembered (9)",
    );
    first.keys("C-d");
    expect(await first.exited()).toBe(0);
    expect(readFileSync(history, "utf8")).toBe("call people.create --name Remembered --age 9\n");
    // The node left the cluster: its rendezvous entry is gone.
    expect(readdirSync(join(dir, namespace))).not.toContain(entry);
    const second = shell();
    await connected(second);
    second.keys("Up");
    await second.waitFor("> call people.create --name Remembered --age 9");
  });
});
