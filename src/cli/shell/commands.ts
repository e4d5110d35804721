import { parse, UsageError } from "../args.js";
import { suggest } from "../suggest.js";
import { benchCommand, broadcast, call, emit, traceCommand } from "./calls.js";
import type { ShellCommand, ShellContext } from "./context.js";
import { actions, dlq, events, nodes, servicesCommand } from "./listings.js";
import { words } from "./tokens.js";

const help: ShellCommand = {
  usage: "help [command]",
  summary: "list the commands, or show one command's usage and options",
  async run(parsed, { screen }) {
    const [topic] = parsed.positionals;
    if (topic === undefined) {
      const width = Math.max(...Object.keys(SHELL_COMMANDS).map((n) => n.length)) + 2;
      for (const [name, c] of Object.entries(SHELL_COMMANDS)) {
        screen.line(`  ${screen.bold(name.padEnd(width))}${c.summary}`);
      }
      screen.note(
        "Tab completes commands, actions, events and a params skeleton; Ctrl-C cancels a call or bench; Ctrl-D leaves.",
      );
      return;
    }
    const c = commandNamed(topic);
    screen.line(`${screen.bold(c.usage)}\n  ${c.summary}`);
    for (const [flag, spec] of Object.entries(c.options ?? {})) {
      screen.line(`  --${flag}${spec.value ? ` ${spec.value}` : ""}  ${spec.help}`);
    }
  },
};

const exit: ShellCommand = {
  usage: "exit",
  summary: "leave the shell (as Ctrl-D does); the shell's node leaves the cluster",
  async run(_parsed, ctx) {
    ctx.exit();
  },
};

/** Every command of the shell, in the order `help` lists them. */
export const SHELL_COMMANDS: Readonly<Record<string, ShellCommand>> = {
  call,
  emit,
  broadcast,
  nodes,
  services: servicesCommand,
  actions,
  events,
  dlq,
  bench: benchCommand,
  trace: traceCommand,
  help,
  exit,
};

/** `quit` is `exit` too: people type either. */
const ALIASES: Record<string, string> = { quit: "exit", "?": "help" };

function commandNamed(name: string): ShellCommand {
  const command = SHELL_COMMANDS[ALIASES[name] ?? name];
  if (command !== undefined && Object.hasOwn(SHELL_COMMANDS, ALIASES[name] ?? name)) return command;
  const hint = suggest(name, Object.keys(SHELL_COMMANDS));
  throw new UsageError(`unknown command '${name}'${hint ? ` (did you mean ${hint}?)` : ""}`);
}

/**
 * Runs one line typed at the shell: splits it into words, finds the command, parses its options
 * and params as `flotilla <command>` would, and runs it. A usage mistake prints one line; an error
 * prints its code and message. Nothing a command throws ends the shell.
 */
export async function execute(line: string, ctx: ShellContext): Promise<void> {
  let name: string | undefined;
  try {
    const args = words(line);
    name = args[0];
    if (name === undefined) return;
    const command = commandNamed(name);
    const parsed = parse(args.slice(1), command.options ?? {}, {
      command: name,
      params: command.params === true,
      env: {},
    });
    await command.run(parsed, ctx);
  } catch (err) {
    if (err instanceof UsageError) ctx.screen.usage(err.message, err.command ?? undefined);
    else ctx.screen.error(err);
  }
}
