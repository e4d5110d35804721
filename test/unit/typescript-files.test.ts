import { describe, expect, it } from "vitest";
import {
  hasModuleSyntax,
  isOwnTypeScript,
  typeScriptAlternative,
} from "../../src/cli/typescript-files.js";

// Which files `flotilla run` (and `--import flotilla/register`) treats as the user's TypeScript.
// End to end, in CommonJS and ES module projects: test/integration/quickstart.test.ts.
describe("loading the user's .ts files", () => {
  it("runs a file written with import/export as an ES module, and leaves CommonJS alone", () => {
    expect(hasModuleSyntax('import { z } from "zod";')).toBe(true);
    expect(hasModuleSyntax("import type { X } from './x.js';")).toBe(true);
    expect(hasModuleSyntax('import "./side-effect.js";')).toBe(true);
    expect(hasModuleSyntax("  export const math = 1;")).toBe(true);
    expect(hasModuleSyntax("export { math };")).toBe(true);
    expect(hasModuleSyntax("export * from './x.js';")).toBe(true);
    expect(hasModuleSyntax('const { z } = require("zod");\nmodule.exports = {};')).toBe(false);
    expect(hasModuleSyntax('const x = await import("./x.js");')).toBe(false);
    expect(hasModuleSyntax("const important = 1; // imported")).toBe(false);
  });

  it("finds ./math.ts for ./math.js from the user's files, as tsc does", () => {
    const parent = "file:///app/services.ts";
    expect(typeScriptAlternative("./math.js", parent)).toBe("./math.ts");
    expect(typeScriptAlternative("../lib/math.mjs", parent)).toBe("../lib/math.mts");
    expect(typeScriptAlternative("./math.cjs", parent)).toBe("./math.cts");
    expect(typeScriptAlternative("zod", parent)).toBeUndefined();
    expect(typeScriptAlternative("./data.json", parent)).toBeUndefined();
    expect(typeScriptAlternative("./x.js", "file:///app/node_modules/p/index.js")).toBeUndefined();
    expect(typeScriptAlternative("./x.js", undefined)).toBeUndefined();
  });

  it("never touches a package's files", () => {
    expect(isOwnTypeScript("file:///app/services.ts")).toBe(true);
    expect(isOwnTypeScript("file:///app/node_modules/p/index.ts")).toBe(false);
    expect(isOwnTypeScript("file:///app/services.mts")).toBe(false); // an ES module anyway
    expect(isOwnTypeScript("node:fs")).toBe(false);
  });
});
