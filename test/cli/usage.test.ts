import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flotilla, root } from "./helpers.js";

// Mistakes on the command line: one clear line on stderr, a pointer to the help, exit status 2,
// and nothing tried against a cluster.
const env = { ...process.env, FLOTILLA_TRANSPORTER: "memory://", NO_COLOR: "1" };
const run = (...args: string[]) => flotilla(args, { env });

describe("flotilla command line", () => {
  it("prints its version with --version and -v", async () => {
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-v"]) {
      const res = await run(flag);
      expect(res).toMatchObject({ code: 0, stdout: `${version}\n` });
    }
  });

  it("prints a command's own help with --help, -h or help <command>", async () => {
    for (const args of [
      ["call", "--help"],
      ["call", "math.add", "-h"],
      ["help", "call"],
    ]) {
      const res = await run(...args);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^Usage: flotilla call <action>/);
      expect(res.stdout).toContain("--timeout MS");
      expect(res.stdout).toContain("$FLOTILLA_TIMEOUT");
    }
    const global = await run("--help");
    expect(global.stdout).toMatch(/^Usage: flotilla <command>/);
    expect(global.stdout).toContain("new ");
  });

  it.each([
    {
      args: ["run", "x.ts", "--instnces", "2"],
      message: "flotilla run: unknown option '--instnces' (did you mean --instances?)",
    },
    {
      args: ["run", "x.ts", "--timeout", "5"],
      message: "flotilla run: unknown option '--timeout' (it is an option of call)",
    },
    { args: ["nodes", "-x"], message: "flotilla nodes: unknown option '-x'" },
    {
      args: ["call", "math.add", "--timeout", "abc"],
      message:
        "flotilla call: --timeout must be a duration above 0 in ms (e.g. 5000 or 5s), not 'abc'",
    },
    {
      args: ["nodes", "--wait", "abc"],
      message: "flotilla nodes: --wait must be a duration in ms (e.g. 5000 or 5s), not 'abc'",
    },
    {
      args: ["run", "x.ts", "-i", "0"],
      message: "flotilla run: --instances must be a whole number from 1 to 1024, not '0'",
    },
    {
      args: ["call", "math.add", "--timeout"],
      message: "flotilla call: --timeout needs a value (MS)",
    },
    {
      args: ["call", "math.add", '{"a": 1,'],
      message: "flotilla call: params are not valid JSON",
    },
    {
      args: ["call", "math.add", `${"[".repeat(6000)}${"]".repeat(6000)}`],
      message:
        "flotilla call: params are not valid JSON (The payload nests objects or arrays deeper than 512 levels.)",
    },
    {
      args: ["call", "math.add", "--deep", `${"[".repeat(6000)}${"]".repeat(6000)}`],
      message: "flotilla call: The payload nests objects or arrays deeper than 512 levels.",
    },
    {
      args: ["call", "math.add", "--__proto__.polluted", "1"],
      message: "flotilla call: '--__proto__.polluted' is not a param name",
    },
    { args: ["call"], message: "flotilla call: missing the action to call" },
    { args: ["frobnicate"], message: "flotilla: unknown command 'frobnicate'" },
    { args: ["cal", "math.add"], message: "flotilla: unknown command 'cal' (did you mean call?)" },
    { args: ["run", "nope.ts"], message: "flotilla run: no such file or directory: nope.ts" },
  ])("refuses $args with one line and exit 2", async ({ args, message }) => {
    const res = await run(...args);
    expect(res.code).toBe(2);
    const [first, second, ...more] = res.stderr.split("\n");
    expect(first).toContain(message);
    expect(second).toMatch(/^Run 'flotilla( \w+)? --help' for usage\.$/);
    expect(more.join("")).toBe("");
    expect(res.stdout).toBe("");
  });

  it("checks values from the environment too, naming the variable", async () => {
    const res = await flotilla(["nodes"], { env: { ...env, FLOTILLA_WAIT: "soon" } });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("FLOTILLA_WAIT must be a duration in ms");
  });

  it("takes flags over environment variables", async () => {
    const res = await flotilla(["nodes", "--wait", "0"], {
      env: { ...env, FLOTILLA_WAIT: "soon" },
    });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual([]);
  });

  it("treats -- as the end of options, never as a param named ''", async () => {
    const res = await run("call", "echo.back", "--wait", "0", "--", "--wait", "7");
    // The call fails (nobody serves echo.back), but the params were read: no usage error.
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stderr).error.code).toBe("SERVICE_NOT_FOUND");
  });

  it("warns when a param looks like a misspelt option", async () => {
    const res = await run("call", "echo.back", "--wait", "0", "--timout", "100");
    expect(res.stderr).toContain("--timout is sent as a param; did you mean --timeout?");
  });
});

describe("docs/cli.md", () => {
  it("documents every command, option and environment variable", async () => {
    const { COMMANDS } = await import("../../src/cli/options.js");
    const docs = readFileSync(join(root, "docs/cli.md"), "utf8");
    for (const [name, command] of Object.entries(COMMANDS)) {
      expect(docs).toMatch(new RegExp(`^## (.*\\b)?${name}\\b`, "m"));
      for (const [flag, spec] of Object.entries(command.options)) {
        if (flag !== "help") expect(docs, `--${flag} of ${name}`).toContain(`--${flag}`);
        if ("env" in spec && spec.env) expect(docs, spec.env).toContain(`\`${spec.env}\``);
      }
    }
  });
});
