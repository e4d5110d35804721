import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { tsBlocks } from "../docs/blocks.js";

// docs/caching.md's examples that run on their own do run, and print what the page says.

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "flotilla-caching-doc-"));
// As a user's project: ESM, with the repository's packages (zod) resolvable.
writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(name: string): Promise<string> {
  const block = tsBlocks(root, "docs/caching.md").find((b) => b.file === name);
  if (block === undefined) throw new Error(`docs/caching.md has no block '${name}'`);
  const code = block.code.replace(
    /from "flotilla"/g,
    `from ${JSON.stringify(join(root, "src/index.ts"))}`,
  );
  const file = join(dir, name);
  writeFileSync(file, code);
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], {
    cwd: root,
    env: { ...process.env, FLOTILLA_LOG_LEVEL: "silent" },
    timeout: 60_000,
  });
  return stdout.trim();
}

describe("docs/caching.md", () => {
  it("the quick start runs the handler once for two calls", async () => {
    expect(await run("quick-start.ts")).toBe("1 1");
  }, 60_000);

  it("the health example prints the counts and the cache metrics", async () => {
    const out = await run("health.ts");
    expect(out.startsWith("0 ")).toBe(true);
    expect(out).toContain('flotilla_cache_connected{cacher="memory"} 1');
  }, 60_000);
});
