import { readFileSync, statSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import type { CallSite } from "./compat.js";

/** One loaded service module and the services (full names) it defines. */
export interface ServiceModule {
  file: string;
  services: readonly string[];
}

/** Bounds of a scan: a fixed budget however large the project. */
const LIMITS = { files: 2000, bytes: 2 * 1024 * 1024 };

/** Relative imports a module runs (`import type` is erased, so it is not followed). */
const IMPORT =
  /(?:^|[\n;])[ \t]*(?:import|export)[ \t]+(?!type[ \t{])(?:[^;"'`]*?[ \t}]from[ \t]*)?["'](\.{1,2}\/[^"'\n]+)["']|\bimport\(\s*["'](\.{1,2}\/[^"'\n]+)["']\s*\)/g;
/** A string literal shaped like an action name: `"products.reserve"`, `'v2.users.get'`. */
const LITERAL = /(["'`])((?:[\w$-]+\.)+[\w$-]+)\1/g;

/**
 * Where services' own sources name actions: every string literal equal to an action's full name
 * (`ctx.call("products.reserve", ...)`) in a service's module and the modules it imports
 * (relative imports only, not packages). A static, best-effort answer to "who calls this
 * action", for the report; an action named through a variable built at run time is not found.
 *
 * @example
 * ```ts
 * findCallSites([{ file: "services/orders/service.ts", services: ["orders"] }], actions);
 * // Map { "products.reserve" => [{ service: "orders", file: "services/orders/saga.ts", line: 92 }] }
 * ```
 */
export function findCallSites(
  modules: readonly ServiceModule[],
  /** Action full name → its service's full name (a service calling itself is not a caller). */
  actions: ReadonlyMap<string, string>,
  cwd = process.cwd(),
): Map<string, CallSite[]> {
  const sites = new Map<string, CallSite[]>();
  const texts = new Map<string, string>();
  for (const module of modules) {
    for (const file of moduleGraph(resolve(cwd, module.file), texts)) {
      const text = texts.get(file) ?? "";
      for (const match of text.matchAll(LITERAL)) {
        const action = match[2]!;
        const owner = actions.get(action);
        if (owner === undefined) continue;
        const line = lineAt(text, match.index ?? 0);
        const where = relative(cwd, file) || file;
        for (const service of module.services) {
          if (service === owner) continue;
          const list = sites.get(action) ?? [];
          if (!list.some((s) => s.service === service)) list.push({ service, file: where, line });
          sites.set(action, list);
        }
      }
    }
  }
  return sites;
}

/** The module and every module it imports relatively, transitively, read into `texts`. */
function moduleGraph(entry: string, texts: Map<string, string>): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0 && seen.size < LIMITS.files) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let text = texts.get(file);
    if (text === undefined) {
      text = readSource(file);
      texts.set(file, text);
    }
    for (const match of text.matchAll(IMPORT)) {
      const target = existing(resolve(dirname(file), match[1] ?? match[2]!));
      if (target !== undefined && !seen.has(target)) queue.push(target);
    }
  }
  return [...seen];
}

function readSource(file: string): string {
  try {
    if (statSync(file).size > LIMITS.bytes) return "";
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** The file an import names, as `tsc --module nodenext` finds it (`./saga.js` → `./saga.ts`). */
function existing(path: string): string | undefined {
  const candidates = [path];
  const js = /\.([mc]?)js$/.exec(path);
  if (js) candidates.push(`${path.slice(0, -js[0].length)}.${js[1]}ts`);
  candidates.push(`${path}.ts`, `${path}/index.ts`, `${path}.js`, `${path}/index.js`);
  return candidates.find((c) => statSync(c, { throwIfNoEntry: false })?.isFile());
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
