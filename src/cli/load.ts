import { readdirSync, statSync } from "node:fs";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { ServiceSchemaError } from "../errors/index.js";
import { isServiceDefinition } from "../service/define.js";
import type { AnyServiceDefinition } from "../service/types.js";
import { enableTypeScript } from "./typescript.js";

const EXTENSIONS = new Set([".ts", ".mts", ".js", ".mjs"]);

/** Expands file names, directories and globs (`services/*.ts`, `src/**\/*.service.ts`) to files. */
export function expandFiles(patterns: readonly string[], cwd = process.cwd()): string[] {
  const files = new Set<string>();
  for (const pattern of patterns) {
    if (!/[*?]/.test(pattern)) {
      const path = resolve(cwd, pattern);
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
        for (const f of walk(path))
          if (EXTENSIONS.has(extname(f)) && !f.endsWith(".d.ts")) files.add(f);
      } else {
        files.add(path);
      }
      continue;
    }
    const base = resolve(cwd, pattern.slice(0, pattern.search(/[^/]*[*?]/)) || ".");
    const full = isAbsolute(pattern) ? pattern : join(cwd, pattern);
    const re = globToRegExp(full);
    for (const f of walk(base)) if (re.test(f)) files.add(f);
  }
  return [...files].sort();
}

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(
      (d) =>
        d.isFile() &&
        !relative(dir, join(d.parentPath, d.name)).split(sep).includes("node_modules"),
    )
    .map((d) => join(d.parentPath, d.name));
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += glob[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += glob[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * Imports service modules: a module's default export (a definition or a list of them) or,
 * without one, every export made by `defineService`.
 */
export async function loadServices(files: readonly string[]): Promise<AnyServiceDefinition[]> {
  const found: AnyServiceDefinition[] = [];
  for (const file of files) {
    if (/\.[mc]?ts$/.test(file)) await enableTypeScript();
    const mod = (await import(pathToFileURL(file).href).catch((err: unknown) => {
      throw explainImport(err);
    })) as Record<string, unknown>;
    const fromDefault = [mod.default].flat().filter((v) => v !== undefined);
    const defs =
      fromDefault.length > 0 ? fromDefault : Object.values(mod).filter(isServiceDefinition);
    if (defs.length === 0) throw new ServiceSchemaError(`${file} exports no service definition.`);
    for (const def of defs) {
      if (
        typeof def !== "object" ||
        def === null ||
        typeof (def as { name?: unknown }).name !== "string"
      ) {
        throw new ServiceSchemaError(`The default export of ${file} is not a service definition.`);
      }
      found.push(def as AnyServiceDefinition);
    }
  }
  return found;
}

/** Adds what to do to the error Node raises for TypeScript that it cannot strip. */
function explainImport(err: unknown): unknown {
  if (
    (err as { code?: unknown })?.code === "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX" &&
    err instanceof Error
  )
    err.message +=
      "\nNode.js strips types but does not compile enums, namespaces or parameter properties:" +
      " rewrite them, or load .ts files through tsx (npm install -D tsx, then FLOTILLA_TS_LOADER=tsx).";
  return err;
}
