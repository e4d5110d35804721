import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DocBlock, markdownFiles, tsBlocks } from "./blocks.js";

// Every ```ts block of README.md and docs/*.md is type-checked against this package, so a name
// the docs import that is not exported, or an option that does not exist, fails here. A block
// that is not meant to compile is marked ```ts no-check, with `// no-check: why` as its first line.

const root = fileURLToPath(new URL("../../", import.meta.url));
const entries = {
  flotilla: "src/index.ts",
  "flotilla/testing": "src/testing/index.ts",
  "flotilla/gateway": "src/gateway/index.ts",
};
const paths = Object.fromEntries(
  Object.entries(entries).map(([name, file]) => [name, [join(root, file)]]),
);

const blocks = markdownFiles(root).flatMap((doc) => tsBlocks(root, doc));
let dir = "";
const fileOf = new Map<string, DocBlock>();

beforeAll(() => {
  // Outside the repository (its tsconfig and linter stay clean), with the repository's
  // node_modules linked in, so zod, valibot and @types/node resolve as they do for a user.
  dir = mkdtempSync(join(tmpdir(), "flotilla-docs-"));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { paths } }));
  for (const block of blocks) {
    const file = join(dir, block.doc.replace(/[/.]/g, "_"), block.file);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${block.code}\n`);
    fileOf.set(file, block);
  }
});

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("docs examples", () => {
  it("finds the blocks, each no-check one with its reason, file names unique per doc", () => {
    expect(blocks.length).toBeGreaterThan(20);
    const unexplained = blocks.filter((b) => b.noCheck === "").map((b) => `${b.doc}:${b.line}`);
    expect(unexplained, "```ts no-check needs `// no-check: why` as its first line").toEqual([]);
    const names = blocks.map((b) => `${b.doc}/${b.file}`);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it("type-check against the package's public entry points", () => {
    const { config } = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root);
    const settings: ts.CompilerOptions = {
      ...options,
      paths,
      noEmit: true,
      moduleDetection: ts.ModuleDetectionKind.Force, // each block is a module of its own
      typeRoots: [join(root, "node_modules/@types")],
    };
    // A doc that augments `Services` is a project of its own (as for a user); the rest share one.
    const groups = new Map<string, string[]>();
    for (const [file, block] of fileOf) {
      if (block.noCheck !== undefined) continue;
      const augments = blocks.some(
        (b) => b.doc === block.doc && /declare module "flotilla/.test(b.code),
      );
      const key = augments ? block.doc : "";
      groups.set(key, [...(groups.get(key) ?? []), file]);
    }
    let previous: ts.Program | undefined;
    const errors = [...groups.values()].flatMap((files) => {
      const program = ts.createProgram(files, settings, undefined, previous);
      previous = program; // reuses the parsed sources of src/ and node_modules
      return files.flatMap((file) => {
        const source = program.getSourceFile(file);
        if (source === undefined) return [`${file}: not read`];
        return [
          ...program.getSyntacticDiagnostics(source),
          ...program.getSemanticDiagnostics(source),
        ].map((d) => describeDiagnostic(d, file));
      });
    });
    expect(errors).toEqual([]);
  }, 120_000);

  it("the README's one-process example runs and prints the greeting", async () => {
    const example = blocks.find(
      (b) =>
        b.doc === "README.md" && /new ServiceBroker\(/.test(b.code) && /console\.log/.test(b.code),
    );
    expect(example, "README has a one-process example with console.log").toBeDefined();
    const file = [...fileOf].find(([, b]) => b === example)?.[0] ?? "";
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ["--import", "tsx", file], {
      cwd: dirname(file),
      env: {
        ...process.env,
        FLOTILLA_LOG_LEVEL: "silent",
        TSX_TSCONFIG_PATH: join(dir, "tsconfig.json"),
      },
      timeout: 60_000,
    });
    expect(stdout.trim()).toBe("Hello, Ada! Your lucky number is 43.");
  }, 90_000);
});

function describeDiagnostic(d: ts.Diagnostic, file: string): string {
  const block = fileOf.get(file);
  const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  if (block === undefined || d.file === undefined || d.start === undefined) return message;
  const { line } = d.file.getLineAndCharacterOfPosition(d.start);
  // The block's first code line is the line after the fence; prelude lines are not in the doc.
  const where =
    line < block.preludeLines
      ? `the ts-prelude of the block at line ${block.line}`
      : `${block.line + 1 + line - block.preludeLines}`;
  return `${block.doc}:${where} (${relative(dir, file)}): ${message}`;
}
