import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { completer } from "../../src/cli/shell/complete.js";
import { Screen } from "../../src/cli/shell/screen.js";
import { runSession } from "../../src/cli/shell/session.js";
import { type SpanSource, spanSource } from "../../src/cli/shell/trace.js";
import { ServiceBroker } from "../../src/index.js";
import people from "./fixtures/shell/people.js";

// The shell without a terminal, in this process: lines in, answers out. The service runs on the
// shell's own node, so every span of a traced call ends here and comes back to `trace`.

let broker: ServiceBroker;
let spans: SpanSource;

beforeAll(async () => {
  // Before the node starts, as `flotilla shell` does: the node wraps calls when an SDK is there.
  spans = await spanSource({});
  broker = new ServiceBroker({ nodeID: "shell-test", logger: false });
  broker.createService(people);
  await broker.start();
});

afterAll(async () => {
  await broker.stop();
  if (spans.kind === "memory") await spans.close();
});

/** Runs the lines through a session and returns what it printed. */
async function session(...lines: string[]): Promise<string> {
  const input = new PassThrough();
  // Not a terminal, as a pipe is not.
  const output = Object.assign(new PassThrough(), { isTTY: false });
  let printed = "";
  output.on("data", (d: Buffer) => {
    printed += d;
  });
  const done = runSession({
    broker,
    input,
    output,
    progress: output,
    screen: new Screen(output, { NO_COLOR: "1" }),
    terminal: false,
    history: undefined,
    wait: 0,
    where: "here",
    spans,
    prompt: "> ",
  });
  input.end(lines.map((l) => `${l}\n`).join(""));
  await done;
  return printed;
}

describe("the shell, line by line", () => {
  it("prints a call's result, and an error's code without ending", async () => {
    const out = await session(
      'call people.create {"name": "Ada", "age": 36}',
      "call people.refuse",
      "call people.create --name Bob --age 7",
    );
    expect(out).toContain('"greeting": "Hello, Ada (36)"');
    expect(out).toContain("error: Nobody may pass (PEOPLE_REFUSED, status 403)");
    expect(out).toContain('"greeting": "Hello, Bob (7)"');
  });

  it("prints validation issues one a line and usage mistakes in one line", async () => {
    const out = await session("call people.create --name Bob", "cal people.create", "call");
    expect(out).toContain("(VALIDATION_ERROR, status 422)");
    expect(out).toContain("  age: ");
    expect(out).toContain("usage: unknown command 'cal' (did you mean call?) (try 'help')");
    expect(out).toContain("usage: missing the action to call (try 'help call')");
  });

  it("runs nothing after exit", async () => {
    const out = await session("exit", 'call people.create {"name": "Ada", "age": 1}');
    expect(out).not.toContain("greeting");
  });

  it("benches an action: calls, calls/s and percentiles", async () => {
    const out = await session("bench people.create --name A --age 1 --count 300 --concurrency 3");
    expect(out).toMatch(/people\.create: 300 calls in [\d.]+ s, concurrency 3/);
    expect(out).toMatch(/[\d,]+ calls\/s/);
    expect(out).toMatch(/latency {2}p50 [\d.]+ ms {2}p90 [\d.]+ ms {2}p99 [\d.]+ ms/);
  });

  it("counts failed calls of a bench by code", async () => {
    const out = await session("bench people.refuse --count 20");
    expect(out).toContain("20 failed: PEOPLE_REFUSED × 20");
  });

  it("traces a call: the client span and, served here, the server span under it", async () => {
    const out = await session("trace people.create --name Ada --age 36");
    expect(out).toContain('"greeting": "Hello, Ada (36)"');
    expect(out).toMatch(
      /trace [0-9a-f]{32}\n {2}people\/create {2}client {2}shell-test {2}[\d.]+ ms\n {2}└─ people\/create {2}server {2}shell-test/,
    );
  });

  it("traces a failed call with its error code on the spans", async () => {
    const out = await session("trace people.refuse");
    expect(out).toMatch(/people\/refuse {2}client {2}shell-test {2}[\d.]+ ms {2}PEOPLE_REFUSED/);
    expect(out).toContain("error: Nobody may pass (PEOPLE_REFUSED");
  });

  it("lists actions with their params", async () => {
    const out = await session("actions");
    expect(out).toMatch(/^ACTION +VISIBILITY +REST +PARAMS +NODES$/m);
    expect(out).toMatch(/^people\.create +public +- +name, age +shell-test$/m);
  });
});

describe("Tab completion", () => {
  const complete = () => completer(broker);

  it("completes commands, then action names, then a params skeleton", () => {
    expect(complete()("be")).toEqual([["bench "], "be"]);
    expect(complete()("call people.cr")).toEqual([["people.create "], "people.cr"]);
    expect(complete()("call people.")[0]).toEqual([
      "people.create",
      "people.hang",
      "people.refuse",
    ]);
    expect(complete()("call people.create ")).toEqual([['{"name": "", "age": 0}'], ""]);
    expect(complete()("bench people.create --con")).toEqual([["--concurrency "], "--con"]);
    expect(complete()("dlq re")).toEqual([["replay "], "re"]);
  });

  it("offers no skeleton for an action it does not know", () => {
    expect(complete()("call nobody.knows ")).toEqual([[], ""]);
  });
});
