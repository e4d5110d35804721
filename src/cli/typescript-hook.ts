import { readFile } from "node:fs/promises";
import { hasModuleSyntax, isOwnTypeScript } from "./typescript-files.js";

// The off-thread hook `flotilla run` registers after tsx on Node lines without type stripping
// (`module.register`, see typescript.ts): it runs before tsx's own and tells it to compile the
// user's `.ts` files written with `import`/`export` as ES modules, whatever the project's "type".

interface LoadContext {
  format?: string | null | undefined;
}

/** The `load` hook of Node's module customization API. */
export async function load(
  url: string,
  context: LoadContext,
  next: (url: string, context: LoadContext) => Promise<unknown>,
): Promise<unknown> {
  if (isOwnTypeScript(url) && context.format !== "module") {
    const source = await readFile(new URL(url), "utf8").catch(() => "");
    if (hasModuleSyntax(source)) return next(url, { ...context, format: "module" });
  }
  return next(url, context);
}
