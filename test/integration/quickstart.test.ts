import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Follows the README's "Quick start" literally, as a new user would: packs this repository,
// makes a project with `npm init -y` (CommonJS, as npm 11 writes it) and one switched to ES
// modules, installs the tarball, writes the README's files and runs the README's commands,
// checking what their comments say they print. It installs from the npm registry (zod, and the
// package's dependencies, from npm's cache when it has them), so it runs on demand and in CI:
// `npm run test:quickstart` (FLOTILLA_QUICKSTART=1); FLOTILLA_QUICKSTART_TARBALL reuses a tarball.
// The Node that runs vitest runs the commands too (its folder goes first on PATH).

const root = new URL("../..", import.meta.url);
const run = promisify(execFile);
const enabled = process.env.FLOTILLA_QUICKSTART === "1";
const nodeStripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);

/** One step of the quick start: a file to write or a command to run, in README order. */
type Step =
  | { kind: "file"; name: string; text: string }
  | { kind: "command"; line: string; comment: string };

/** The steps of the README's "Quick start" section, and its prose. */
function quickStart(readme: string): { steps: Step[]; prose: string } {
  const start = readme.indexOf("\n## Quick start");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const steps: Step[] = [];
  for (const [, lang, body] of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (lang === "ts") {
      const name = /^\/\/ (\S+)\n/.exec(body!)?.[1];
      if (name === undefined) throw new Error(`a ts block without a file name:\n${body}`);
      steps.push({ kind: "file", name, text: body! });
    } else if (lang === "sh") {
      for (const raw of body!.split("\n").filter((l) => l.trim() !== "")) {
        const [line, comment = ""] = raw.split(/\s{2,}#\s/);
        steps.push({ kind: "command", line: line!.trim(), comment });
      }
    }
  }
  return { steps, prose: section.replace(/```[\s\S]*?```/g, "") };
}

/** The environment of a user's shell: no npm_* variables of the `npm run` that started us. */
function userEnv(namespace: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!/^npm_/i.test(key) && key !== "INIT_CWD") env[key] = value;
  env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`;
  env.FLOTILLA_NAMESPACE = namespace;
  env.NO_COLOR = "1";
  return env;
}

interface Result {
  code: number | null;
  out: string;
}

/** Runs a command line in its own process group, as a terminal does. */
function shell(line: string, cwd: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn("sh", ["-c", line], { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
}

async function finished(child: ChildProcess): Promise<Result> {
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, out };
}

/** What a command's comment promises it prints: `# prints "..."`. */
function promised(comment: string): string | undefined {
  return /prints "([^"]+)"/.exec(comment)?.[1];
}

describe.runIf(enabled)("the README's quick start, followed literally", () => {
  let base: string;
  let tarball: string;
  let steps: Step[];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "flotilla-quickstart-"));
    const readme = quickStart(await readFile(new URL("README.md", root), "utf8"));
    steps = readme.steps;
    expect(readme.prose).toContain("`npm pkg set type=module`");
    tarball = process.env.FLOTILLA_QUICKSTART_TARBALL ?? "";
    if (tarball === "") {
      // `npm pack` runs `prepare`, which builds dist/ as a git install would.
      const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", base], {
        cwd: root,
      });
      const [packed] = JSON.parse(stdout) as [{ filename: string }];
      tarball = join(base, packed.filename);
    }
  }, 120_000);

  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it.concurrent.each([
    ["commonjs", ""],
    ["module", "npm pkg set type=module"],
  ])(
    'works in a "type": "%s" project',
    async (type, switchType) => {
      const home = join(base, type);
      await mkdir(home);
      const env = userEnv(`quickstart-${type}-${process.pid}`);
      let cwd = home;
      const background: { child: ChildProcess; exit: Promise<Result> }[] = [];
      const ran: string[] = [];
      try {
        for (const step of steps) {
          if (step.kind === "file") {
            await writeFile(join(cwd, step.name), step.text);
            continue;
          }
          let { line } = step;
          const dir = /^mkdir (\S+) && cd \1$/.exec(line)?.[1];
          if (dir !== undefined) {
            cwd = join(cwd, dir);
            await mkdir(cwd);
            continue;
          }
          if (/only on Node < 22\.18/.test(step.comment) && nodeStripsTypes) continue;
          if (line.startsWith("npm install ")) {
            line = `${line.replace("../flotilla/flotilla-0.1.0.tgz", tarball)} --prefer-offline --no-audit --no-fund`;
          }
          if (/^npx flotilla run /.test(line)) {
            const child = shell(line, cwd, env);
            background.push({ child, exit: finished(child) });
            continue;
          }
          const result = await finished(shell(line, cwd, env));
          ran.push(line);
          expect(result.code, `${line}\n${result.out}`).toBe(0);
          const text = promised(step.comment);
          if (text !== undefined) expect(result.out, line).toContain(text);
          if (line === "npm init -y") {
            const pkg = JSON.parse(await readFile(join(cwd, "package.json"), "utf8"));
            expect(pkg.type).toBe("commonjs"); // what the README says npm 11 writes
            if (switchType) await finished(shell(switchType, cwd, env));
          }
        }
        const pkg = JSON.parse(await readFile(join(cwd, "package.json"), "utf8"));
        expect(pkg.type).toBe(type);
        expect(ran.some((l) => l.startsWith("npx flotilla call "))).toBe(true);
        expect(ran.some((l) => l.startsWith("node --import flotilla/register "))).toBe(true);
        for (const { child, exit } of background.splice(0)) {
          process.kill(-child.pid!, "SIGINT"); // Ctrl-C
          // The shell around it dies of the signal; the node itself says that it stopped.
          const { out } = await exit;
          expect(out).toMatch(/started with 2 service\(s\)[\s\S]*stopped/);
        }
      } finally {
        for (const { child } of background) if (child.exitCode === null) process.kill(-child.pid!);
      }
    },
    150_000,
  );
});
