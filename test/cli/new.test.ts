import { execFileSync, spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flotilla, root } from "./helpers.js";

// `flotilla new` as a user runs it, then the project it wrote, against this repository's build
// packed as npm would publish it. Offline: the packed tarball is unpacked into the project's
// node_modules and every other package is linked from this repository's node_modules.
const work = mkdtempSync(join(tmpdir(), "flotilla-new-"));
const app = join(work, "my-app");
const env = { ...process.env, NO_COLOR: "1", FLOTILLA_TCP_DIR: join(work, "rendezvous") };
let tarball = "";

beforeAll(() => {
  const name = execFileSync(
    "npm",
    ["pack", "--ignore-scripts", "--silent", "--pack-destination", work],
    {
      cwd: root,
      encoding: "utf8",
    },
  ).trim();
  tarball = join(work, name.split("\n").pop()!);
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function install(dir: string): void {
  const modules = join(dir, "node_modules");
  mkdirSync(join(modules, "flotilla"), { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", join(modules, "flotilla"), "--strip-components=1"]);
  for (const entry of readdirSync(join(root, "node_modules"))) {
    if (entry === "flotilla" || entry === ".bin" || entry.startsWith(".")) continue;
    symlinkSync(join(root, "node_modules", entry), join(modules, entry));
  }
}

describe("flotilla new", () => {
  it("writes a two-service project and prints the next commands", async () => {
    const res = await flotilla(["new", "my-app", "--flotilla", tarball], { env, cwd: work });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("Created my-app");
    expect(res.stdout).toContain("  cd my-app\n  npm install\n  npm test\n");
    expect(readdirSync(app).sort()).toEqual([
      ".gitignore",
      "README.md",
      "package.json",
      "services.test.ts",
      "services.ts",
      "tsconfig.json",
    ]);
    const pkg = JSON.parse(readFileSync(join(app, "package.json"), "utf8"));
    expect(pkg).toMatchObject({
      name: "my-app",
      type: "module",
      scripts: { start: "flotilla run services.ts", test: "vitest run" },
      dependencies: { flotilla: `file:../${tarball.split("/").pop()}` },
    });
    expect(readFileSync(join(app, "README.md"), "utf8")).toContain(
      "npx flotilla call greeter.welcome --name Ada",
    );
  });

  it("refuses to write into a folder that is not empty", async () => {
    const res = await flotilla(["new", "my-app"], { env, cwd: work });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("flotilla new: my-app is not empty");
    const empty = join(work, "empty");
    mkdirSync(empty);
    expect((await flotilla(["new", "empty"], { env, cwd: work })).code).toBe(0);
    writeFileSync(join(work, "file"), "");
    expect((await flotilla(["new", "file"], { env, cwd: work })).stderr).toContain(
      "file exists and is not a folder",
    );
  });

  it("writes a project whose types check and whose test passes with the packed build", () => {
    install(app);
    const run = (args: string[]) =>
      execFileSync(process.execPath, args, { cwd: app, env, encoding: "utf8", stdio: "pipe" });
    run([join(app, "node_modules/typescript/bin/tsc"), "--noEmit"]);
    const out = run([join(app, "node_modules/vitest/vitest.mjs"), "run"]);
    expect(out).toMatch(/Tests\s+3 passed/);
  }, 60_000);

  it("writes a project whose services run with flotilla run and answer flotilla call", async () => {
    const bin = join(app, "node_modules/flotilla/bin/flotilla.js");
    const node = spawn(process.execPath, [bin, "run", "services.ts", "--node-id", "app"], {
      cwd: app,
      env: { ...env, FLOTILLA_NAMESPACE: "new-app" },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = "";
        node.stdout.on("data", (d: Buffer) => {
          out += d;
          if (out.includes("Node 'app' started")) resolve();
        });
        node.on("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
      });
      const res = await new Promise<string>((resolve) => {
        const call = spawn(
          process.execPath,
          [bin, "call", "greeter.welcome", "--name", "Ada", "-n", "new-app"],
          { cwd: app, env },
        );
        let out = "";
        call.stdout.on("data", (d: Buffer) => {
          out += d;
        });
        call.on("close", () => resolve(out));
      });
      expect(JSON.parse(res)).toBe("Welcome, Ada! Your lucky number is 43.");
    } finally {
      node.kill("SIGTERM");
    }
  }, 30_000);
});
