import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { type Parsed, UsageError } from "./args.js";
import type { Output } from "./output.js";
import { projectFiles } from "./template.js";

interface OwnPackage {
  version: string;
  devDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}

/**
 * `flotilla new <name>`: writes a runnable project (two services, a test with `flotilla/testing`,
 * a README) into a new or empty folder, and prints the commands to run next. `--flotilla` says
 * where the dependency comes from: a version range, a folder or a packed tarball.
 */
export async function createProject(parsed: Parsed, out: Output): Promise<number> {
  const [target, extra] = parsed.positionals;
  if (target === undefined || target.trim() === "")
    throw new UsageError("missing the name of the project to create", "new");
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, "new");
  const dir = resolve(target);
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory())
    throw new UsageError(`${target} exists and is not a folder`, "new");
  if (stat && readdirSync(dir).length > 0)
    throw new UsageError(`${target} is not empty; choose a new name or empty it first`, "new");
  const own = createRequire(import.meta.url)("../../package.json") as OwnPackage;
  const files = projectFiles({
    name: packageName(basename(dir)),
    flotilla: dependencySpec(parsed.options.flotilla as string | undefined, dir, own.version),
    versions: { ...own.dependencies, ...own.devDependencies },
  });
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  const cd = relative(process.cwd(), dir) || ".";
  out.out.write(`Created ${cd}: two services (math, greeter), a test and a README.

Next:
  cd ${cd}
  npm install
  npm test
  npm start                                      # runs both services; in another terminal:
  npx flotilla call greeter.welcome --name Ada
`);
  return 0;
}

/** A valid npm package name from a folder name: lower case, no spaces or odd characters. */
function packageName(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[._-]+|-+$/g, "");
  return name || "flotilla-app";
}

/**
 * The `flotilla` dependency: a range as given, or `file:` to a folder or tarball, relative to the
 * project so the project can move with it.
 */
function dependencySpec(given: string | undefined, dir: string, version: string): string {
  if (given === undefined) return `^${version}`;
  const isPath =
    given.startsWith(".") ||
    isAbsolute(given) ||
    given.startsWith("~") ||
    /\.(tgz|tar\.gz)$/.test(given);
  if (!isPath || given.startsWith("file:")) return given;
  const path = resolve(given.replace(/^~(?=\/|$)/, process.env.HOME ?? "~"));
  if (!statSync(path, { throwIfNoEntry: false }))
    throw new UsageError(`--flotilla: no such file or folder: ${given}`, "new");
  return `file:${relative(dir, path) || "."}`;
}
