import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseEnv } from "node:util";

/** The names a config file may have, in the order they are looked for in one folder. */
export const CONFIG_NAMES = [
  "flotilla.config.ts",
  "flotilla.config.mts",
  "flotilla.config.js",
  "flotilla.config.mjs",
  "flotilla.config.json",
] as const;

/**
 * The project's root: the nearest folder, from `cwd` upward, that holds a `package.json`; `cwd`
 * itself when none does.
 */
export function projectRoot(cwd = process.cwd()): string {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return resolve(cwd);
  }
}

/**
 * The config file that applies in `cwd`: the first of {@link CONFIG_NAMES} found in `cwd`, then
 * in each parent folder up to the project's root (included); `undefined` when there is none.
 */
export function findConfigFile(cwd = process.cwd()): string | undefined {
  const root = projectRoot(cwd);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of CONFIG_NAMES) {
      const file = join(dir, name);
      if (existsSync(file)) return file;
    }
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

/**
 * Loads `.env.<NODE_ENV>` and then `.env` from `dir` into `process.env`, with Node's own loader
 * (`process.loadEnvFile`, Node 20.12+). Neither overrides a variable the environment already
 * has, so the environment wins over `.env.<NODE_ENV>`, which wins over `.env`. `NODE_ENV` itself
 * may come from `.env`. Returns the files loaded.
 */
export function loadEnvFiles(dir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const base = join(dir, ".env");
  const mode =
    env.NODE_ENV ?? (existsSync(base) ? parseEnv(readFileSync(base, "utf8")).NODE_ENV : undefined);
  const files = [mode ? `${base}.${mode}` : undefined, base].filter(
    (f): f is string => f !== undefined && existsSync(f),
  );
  const load = (process as { loadEnvFile?: (path: string) => void }).loadEnvFile;
  for (const file of files) {
    if (load !== undefined && env === process.env) load(file);
    else {
      for (const [k, v] of Object.entries(parseEnv(readFileSync(file, "utf8")))) env[k] ??= v;
    }
  }
  return files;
}
