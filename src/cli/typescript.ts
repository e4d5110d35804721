import { readFileSync } from "node:fs";
import * as nodeModule from "node:module";
import { optionalDependency } from "../util/optional.js";
import { hasModuleSyntax, isOwnTypeScript, typeScriptAlternative } from "./typescript-files.js";

// How `flotilla run` loads `.ts` service files, whatever the project's `"type"`:
// - where Node strips types itself (22.18+, 24, 26: `process.features.typescript`), with Node's
//   own loader and two in-thread hooks (`module.registerHooks`);
// - elsewhere (Node 20), through tsx, an optional peer dependency, plus one off-thread hook.
// The hooks do what a TypeScript user expects of `tsc --module nodenext`: a `.ts` file written
// with `import`/`export` runs as an ES module even in a `"type": "commonjs"` project (Node would
// read it as CommonJS and fail, or ERR_REQUIRE_CYCLE_MODULE under tsx), and `./math.js` finds
// `./math.ts`.

/** The subset of `node:module` this file uses beyond @types/node 20 (`registerHooks`: 22.15+). */
interface SyncHooks {
  registerHooks?: (hooks: {
    resolve: (specifier: string, context: ResolveContext, next: NextResolve) => ResolveResult;
    load: (url: string, context: object, next: NextLoad) => LoadResult;
  }) => unknown;
}
interface ResolveContext {
  parentURL?: string | undefined;
}
type ResolveResult = { url: string; format?: string | null | undefined };
type NextResolve = (specifier: string, context: ResolveContext) => ResolveResult;
type LoadResult = { format?: string | null | undefined; source?: unknown };
type NextLoad = (url: string, context: object) => LoadResult;

const loadTsx = optionalDependency(
  "tsx",
  `Loading .ts files on Node.js ${process.version}, which cannot strip types itself (22.18+ can),`,
  () => import("tsx/esm/api"),
);

let ready: Promise<void> | undefined;

/** Makes `import()` of `.ts` files work, once per process and only when a `.ts` file is loaded. */
export function enableTypeScript(): Promise<void> {
  ready ??= register().catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}

/** Whether this process strips types with Node's own loader (else it uses tsx). */
export function nativeTypeScript(): boolean {
  const { registerHooks } = nodeModule as SyncHooks;
  const features = process.features as { typescript?: string | false };
  return (
    Boolean(features.typescript) &&
    typeof registerHooks === "function" &&
    process.env.FLOTILLA_TS_LOADER !== "tsx"
  );
}

async function register(): Promise<void> {
  if (nativeTypeScript()) {
    registerNativeHooks();
    return;
  }
  const tsx = await loadTsx();
  tsx.register();
  // Registered after tsx, so it runs first and tells tsx which files are ES modules.
  nodeModule.register(new URL("./typescript-hook.js", import.meta.url));
}

function registerNativeHooks(): void {
  (nodeModule as SyncHooks).registerHooks?.({
    resolve(specifier, context, next) {
      try {
        return next(specifier, context);
      } catch (err) {
        const alternative = typeScriptAlternative(specifier, context.parentURL);
        if (
          alternative === undefined ||
          (err as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND"
        )
          throw err;
        return next(alternative, context);
      }
    },
    load(url, context, next) {
      const loaded = next(url, context);
      if (loaded.format !== "commonjs-typescript" || !isOwnTypeScript(url)) return loaded;
      const source = loaded.source ?? readFileSync(new URL(url));
      return hasModuleSyntax(String(source))
        ? { ...loaded, source, format: "module-typescript" }
        : loaded;
    },
  });
}
