// Which files `flotilla run` treats as the user's TypeScript, shared by the in-thread hooks
// (`typescript.ts`) and the off-thread one (`typescript-hook.ts`). Imports nothing.

/** A `.ts` file of the user's own (not a package's): a candidate to run as an ES module. */
export function isOwnTypeScript(url: string): boolean {
  return url.startsWith("file:") && url.endsWith(".ts") && !url.includes("/node_modules/");
}

/**
 * Whether a source uses ES module syntax: a line that starts with `import` (not `import(`) or
 * `export`. A `.ts` file written with `require` and `module.exports` stays CommonJS.
 */
export function hasModuleSyntax(source: string): boolean {
  return /^[ \t]*(?:import[ \t]*[\w{*"']|export[ \t{*])/m.test(source);
}

/**
 * `./math.ts` for `./math.js` (and `.mts`/`.cts` for `.mjs`/`.cjs`), as `tsc --module nodenext`
 * resolves it, when a relative import from the user's own file does not exist as written.
 */
export function typeScriptAlternative(
  specifier: string,
  parentURL: string | undefined,
): string | undefined {
  if (!/^\.\.?\//.test(specifier) || parentURL === undefined) return undefined;
  if (!parentURL.startsWith("file:") || parentURL.includes("/node_modules/")) return undefined;
  const match = /\.([mc]?)js$/.exec(specifier);
  return match ? `${specifier.slice(0, -match[0].length)}.${match[1]}ts` : undefined;
}
