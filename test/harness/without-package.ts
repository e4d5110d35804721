import { spawn } from "node:child_process";
import { once } from "node:events";

/**
 * Runs `script` (an ES module, from the repository root) in a Node process where `packages`
 * cannot be found, as on a machine where the optional peer dependency was never installed;
 * returns its stdout.
 *
 * @example
 * ```ts
 * const out = await runWithout(["ioredis"], `
 *   const { resolveTransporter } = await import("./src/transporters/index.ts");
 *   const err = await resolveTransporter("redis://127.0.0.1:6379").catch((e) => e);
 *   console.log(err.code);`);
 * ```
 */
export async function runWithout(packages: string[], script: string): Promise<string> {
  const hook = `export async function resolve(specifier, context, next) {
    if (${JSON.stringify(packages)}.includes(specifier)) {
      const err = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
      err.code = "ERR_MODULE_NOT_FOUND";
      throw err;
    }
    return next(specifier, context);
  }`;
  const source = `import { register } from "node:module";
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
${script}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", source], {
    cwd: new URL("../..", import.meta.url),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`script failed (${code}): ${err}`);
  return out;
}
