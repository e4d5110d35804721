import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { MessagePort } from "node:worker_threads";
import { hasModuleSyntax } from "../typescript-files.js";

// The module hooks of `flotilla run --watch` (registered with `module.register`, so they run on
// Node's loader thread). ES modules cannot be unloaded, so a changed file is loaded again under
// a new URL: `file:///…/math.ts?flotilla-reload=3`. The main thread says which files changed
// (their generation); every other module keeps its URL, so Node's cache hands back the instance
// it already has. The resolve hook also reports each import (importer → imported) so the main
// thread knows which services a change reaches.

/** The query parameter that gives a reloaded module its own URL. */
export const RELOAD_PARAM = "flotilla-reload";

/** Main thread → hooks: new generations (answered with `ack`), or `flush` (answered in order). */
export type ToHooks =
  | { type: "generations"; id: number; entries: [string, number][] }
  | { type: "flush"; id: number };

/** Hooks → main thread. */
export type FromHooks = { type: "ack"; id: number } | { type: "import"; from: string; to: string };

export interface HookData {
  port: MessagePort;
  /** Folders whose files are never reloaded nor reported (Flotilla's own `dist/` and `src/`). */
  skip: string[];
}

let port: MessagePort | undefined;
let skip: string[] = [];
const generations = new Map<string, number>();

export function initialize(data: HookData): void {
  port = data.port;
  skip = data.skip;
  port.on("message", (message: ToHooks) => {
    if (message.type === "generations") {
      for (const [file, generation] of message.entries) generations.set(file, generation);
    }
    port?.postMessage({ type: "ack", id: message.id } satisfies FromHooks);
  });
  port.unref();
}

interface ResolveContext {
  parentURL?: string | undefined;
}
interface Resolved {
  url: string;
  format?: string | null | undefined;
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  next: (specifier: string, context: ResolveContext) => Promise<Resolved>,
): Promise<Resolved> {
  const resolved = await next(specifier, context);
  const file = ownFile(resolved.url);
  if (file === undefined) return resolved;
  const from = context.parentURL === undefined ? undefined : ownFile(context.parentURL);
  if (from !== undefined) port?.postMessage({ type: "import", from, to: file } satisfies FromHooks);
  const url = new URL(resolved.url);
  url.searchParams.delete(RELOAD_PARAM);
  const generation = generations.get(file);
  if (generation !== undefined && generation > 0) {
    url.searchParams.set(RELOAD_PARAM, String(generation));
  }
  return { ...resolved, url: url.href };
}

interface LoadContext {
  format?: string | null | undefined;
}

/**
 * A reloaded `.ts` file written with `import`/`export` stays an ES module whatever the project's
 * "type" (as the TypeScript hook does for URLs without a query, which it does not recognize).
 */
export async function load(
  url: string,
  context: LoadContext,
  next: (url: string, context: LoadContext) => Promise<unknown>,
): Promise<unknown> {
  if (context.format !== "module" && url.includes(`${RELOAD_PARAM}=`)) {
    const bare = new URL(url);
    bare.search = "";
    if (bare.pathname.endsWith(".ts")) {
      const source = await readFile(bare, "utf8").catch(() => "");
      if (hasModuleSyntax(source)) return next(url, { ...context, format: "module" });
    }
  }
  return next(url, context);
}

/** The path of a user's own file (not a package's, not Flotilla's), without any query. */
function ownFile(url: string): string | undefined {
  if (!url.startsWith("file:") || url.includes("/node_modules/")) return undefined;
  const bare = new URL(url);
  bare.search = "";
  bare.hash = "";
  const path = fileURLToPath(bare);
  return skip.some((dir) => path.startsWith(dir)) ? undefined : path;
}
