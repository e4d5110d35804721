import { createRequire } from "node:module";
import { type Parsed, parse, UsageError } from "./args.js";
import { call, emit } from "./call.js";
import { contracts } from "./contracts.js";
import { dlq } from "./dlq.js";
import { commandHelp, globalHelp } from "./help.js";
import { list } from "./list.js";
import { createProject } from "./new.js";
import { COMMANDS, type CommandName, isCommand } from "./options.js";
import { Output, wantsColor } from "./output.js";
import { run } from "./run.js";
import { suggest } from "./suggest.js";

/** This package's version (the CLI lives two folders below package.json, in src/ or dist/). */
export const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string })
  .version;

const COMMAND_RUNNERS: Record<CommandName, (parsed: Parsed, out: Output) => Promise<number>> = {
  run,
  call,
  emit,
  nodes: (parsed, out) => list("nodes", parsed, out),
  services: (parsed, out) => list("services", parsed, out),
  actions: (parsed, out) => list("actions", parsed, out),
  dlq,
  new: createProject,
  // Loaded on use: the other commands never load Kysely or a database driver.
  migrate: async (parsed, out) => (await import("./migrate.js")).migrate(parsed, out),
  contracts,
  shell: async (parsed, out) => (await import("./shell/index.js")).shell(parsed, out),
};

/**
 * Runs the `flotilla` command with its arguments and returns the exit status: 0 on success,
 * 1 when the call or command failed (the error is printed), 2 on bad usage.
 *
 * @example
 * ```ts
 * process.exitCode = await main(["call", "math.add", "--a", "1", "--b", "2"]);
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      process.stderr.write(globalHelp());
      return 2;
    }
    if (command === "--version" || command === "-v" || command === "version") {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (command === "--help" || command === "-h" || command === "help") {
      const topic = command === "help" ? rest[0] : undefined;
      if (topic !== undefined && !isCommand(topic)) throw unknownCommand(topic);
      process.stdout.write(topic === undefined ? globalHelp() : commandHelp(topic));
      return 0;
    }
    if (!isCommand(command)) throw unknownCommand(command);
    if (asksForHelp(rest)) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    const spec = COMMANDS[command];
    const notes: string[] = [];
    const parsed = parse(rest, spec.options, {
      command,
      params: "params" in spec && spec.params,
      warn: (text) => notes.push(text),
      elsewhere: (flag) =>
        Object.entries(COMMANDS)
          .filter(([, c]) => Object.hasOwn(c.options, flag))
          .map(([name]) => name),
    });
    const out = new Output({
      json: parsed.options.json === true,
      verbose: parsed.options.verbose === true,
    });
    for (const note of notes) out.note(note);
    try {
      return await COMMAND_RUNNERS[command](parsed, out);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      return out.localError(err);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usage(err);
  }
}

/** `-h`/`--help` before any `--`: help wins over every other argument. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

function unknownCommand(name: string): UsageError {
  if (name.startsWith("-")) return new UsageError(`unknown option '${name}'`);
  const hint = suggest(name, Object.keys(COMMANDS));
  return new UsageError(`unknown command '${name}'${hint ? ` (did you mean ${hint}?)` : ""}`);
}

/** One clear line and where to read more; no wall of help. */
function usage(err: UsageError): number {
  const red = wantsColor(process.stderr) ? (t: string) => `\x1b[31m${t}\x1b[0m` : (t: string) => t;
  const who = err.command ? `flotilla ${err.command}` : "flotilla";
  const more = err.command ? `flotilla ${err.command} --help` : "flotilla --help";
  process.stderr.write(`${red(`${who}:`)} ${err.message}\nRun '${more}' for usage.\n`);
  return 2;
}
