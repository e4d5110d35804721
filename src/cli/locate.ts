import { spawnSync } from "node:child_process";
import { relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Flotilla's own files (src/ or dist/): frames there are not where a user's problem is. */
const OWN = fileURLToPath(new URL("..", import.meta.url));

/**
 * Where an error points in the user's code, as `file:line:column` relative to the working
 * directory: a location in the message (esbuild's `file:2:6: ERROR`), else the first stack frame
 * outside Node, node_modules and Flotilla itself.
 */
export function locate(err: Error, cwd = process.cwd()): string | undefined {
  const inMessage = /((?:file:\/\/)?(?:\/|[A-Za-z]:\\)[^\s:()]+):(\d+)(?::(\d+))?/.exec(
    err.message,
  );
  if (inMessage) return place(inMessage[1]!, inMessage[2]!, inMessage[3], cwd);
  for (const line of (err.stack ?? "").split("\n").slice(1)) {
    const frame = /^at (?:.*\()?((?:file:\/\/)?(?:\/|[A-Za-z]:\\)[^\s()]+?):(\d+):(\d+)\)?$/.exec(
      line.trim(),
    );
    if (!frame) continue;
    const path = toPath(frame[1]!);
    if (path.startsWith(OWN) || path.includes(`${sep}node_modules${sep}`)) continue;
    return place(path, frame[2]!, frame[3], cwd);
  }
  return undefined;
}

/**
 * Node's `SyntaxError` from `import()` carries no location (Node prints it only for uncaught
 * errors), so ask `node --check` for it, which prints `file:line` first.
 */
export function syntaxLocation(file: string, cwd = process.cwd()): string | undefined {
  const res = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
  const m = /^(.*?):(\d+)\s*$/m.exec(res.stderr ?? "");
  return m ? place(m[1]!, m[2]!, undefined, cwd) : undefined;
}

function place(file: string, line: string, column: string | undefined, cwd: string): string {
  const path = relative(cwd, toPath(file)) || file;
  return `${path}:${line}${column ? `:${column}` : ""}`;
}

function toPath(file: string): string {
  return file.startsWith("file://") ? fileURLToPath(file) : file;
}
