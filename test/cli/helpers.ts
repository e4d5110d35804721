import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

// Runs the built `flotilla` command (npm test builds dist/ first) as a user would.
export const root = fileURLToPath(new URL("../..", import.meta.url));
export const cli = fileURLToPath(new URL("../../bin/flotilla.js", import.meta.url));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `flotilla ...args` to the end. */
export function flotilla(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd ?? root,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `flotilla ...args` in a pseudo-terminal (util-linux `script`), as a user at a terminal
 * sees it: stdout and stderr together, with the terminal's line endings.
 */
export function inTerminal(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Result> {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, cli, ...args].map(quote).join(" ");
  return new Promise((resolve) => {
    const child = spawn("script", ["-qefc", command, "/dev/null"], { env, cwd: root });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.on("close", (code) =>
      resolve({ code, stdout: stdout.replace(/\r\n/g, "\n"), stderr: "" }),
    );
  });
}

/** A running `flotilla run` process and everything it printed so far. */
export interface Node {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output contains `text`. */
  waitFor(text: string | RegExp): Promise<void>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `flotilla run ...args` and resolves once its node says it started. */
export async function runNode(
  args: readonly string[],
  nodeID: string,
  env: NodeJS.ProcessEnv,
): Promise<Node> {
  const child = spawn(process.execPath, [cli, "run", ...args, "--node-id", nodeID], {
    env: { ...env, FLOTILLA_LOG_LEVEL: "info" },
    cwd: root,
  });
  let out = "";
  const waiters = new Set<() => void>();
  const collect = (d: Buffer) => {
    out += d;
    for (const w of [...waiters]) w();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const node: Node = {
    child,
    output: () => out,
    waitFor: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (typeof text === "string" ? out.includes(text) : text.test(out)) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        void exited.then((code) => reject(new Error(`exited with ${code} before ${text}: ${out}`)));
        check();
      }),
    stop: (signal = "SIGTERM") => {
      child.kill(signal);
      return exited;
    },
  };
  await node.waitFor(`Node '${nodeID}' started`);
  return node;
}
