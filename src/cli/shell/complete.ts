import type { ServiceBroker } from "../../broker/broker.js";
import { SHELL_COMMANDS } from "./commands.js";
import { oneLine, skeleton } from "./skeleton.js";

const ACTION_COMMANDS = new Set(["call", "bench", "trace"]);
const EVENT_COMMANDS = new Set(["emit", "broadcast"]);

/**
 * Tab completion for the shell, read live from the registry at every Tab (so it follows nodes as
 * they come and go): command names; action names after `call`, `bench` and `trace`; then, after
 * a complete action name and a space, a params skeleton from the action's JSON Schema
 * (`{"name": "", "age": 0}`); event names after `emit`/`broadcast`; `dlq` subcommands; options.
 * Returns what readline wants: the candidates and the part of the line they replace.
 *
 * @example
 * ```ts
 * completer(broker)("call math.a"); // [["math.add "], "math.a"]
 * completer(broker)("call math.add "); // [['{"a": 0, "b": 0}'], ""]
 * ```
 */
export function completer(broker: ServiceBroker): (line: string) => [string[], string] {
  return (line) => {
    const first = /^\s*(\S*)$/.exec(line);
    if (first) return pick(Object.keys(SHELL_COMMANDS), first[1]!, " ");
    const m = /^\s*(\S+)\s+(.*)$/.exec(line);
    if (!m) return [[], line];
    const [, command, rest] = m as unknown as [string, string, string];
    const fragment = /(\S*)$/.exec(rest)![1]!;
    const before = rest.slice(0, rest.length - fragment.length).trim();
    const spec = SHELL_COMMANDS[command];
    if (fragment.startsWith("--") && spec?.options !== undefined) {
      return pick(
        Object.keys(spec.options).map((o) => `--${o}`),
        fragment,
        " ",
      );
    }
    if (ACTION_COMMANDS.has(command)) {
      if (before === "") return pick(actionNames(broker), fragment, " ");
      if (fragment === "" && !before.includes(" ")) {
        const action = broker.registry.catalog().find((a) => a.name === before);
        const value = skeleton(action?.params);
        if (value !== undefined) return [[oneLine(value)], ""];
      }
      return [[], fragment];
    }
    if (EVENT_COMMANDS.has(command) && before === "")
      return pick(eventNames(broker), fragment, " ");
    if (command === "dlq" && before === "") return pick(["list", "show", "replay"], fragment, " ");
    if (command === "help" && before === "") return pick(Object.keys(SHELL_COMMANDS), fragment, "");
    return [[], fragment];
  };
}

/** The candidates that start with `fragment`, with `suffix` when only one does. */
function pick(all: readonly string[], fragment: string, suffix: string): [string[], string] {
  const hits = all.filter((c) => c.startsWith(fragment)).sort();
  return [hits.length === 1 ? [`${hits[0]}${suffix}`] : hits, fragment];
}

function actionNames(broker: ServiceBroker): string[] {
  return broker.registry
    .catalog()
    .filter((a) => !a.service.startsWith("$"))
    .map((a) => a.name);
}

/** Events some node listens to, by exact name (patterns such as `orders.*` are left out). */
function eventNames(broker: ServiceBroker): string[] {
  const names = new Set<string>();
  for (const node of broker.registry.remote.nodes.values()) {
    for (const service of node.info.services) {
      for (const e of service.events) {
        if (!e.event.startsWith("$") && !/[*?]/.test(e.event)) names.add(e.event);
      }
    }
  }
  return [...names];
}
