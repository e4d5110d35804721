import { type Parsed, UsageError } from "../args.js";
import { clientOptions } from "../call.js";
import { settle, where, withClient } from "../client.js";
import { configure } from "../config/load.js";
import type { Output } from "../output.js";
import { DEFAULT_HISTORY_SIZE, historyPath } from "./history.js";
import { Screen } from "./screen.js";
import { runSession } from "./session.js";
import { spanSource } from "./trace.js";

/** Longest the shell waits for discovery before its first prompt; it goes on listening after. */
const FIRST_LOOK_MS = 2000;

/**
 * `flotilla shell`: joins the cluster as a node without services (the flags of `flotilla call`)
 * and reads commands — `call`, `emit`, `broadcast`, `nodes`, `services`, `actions`, `events`,
 * `dlq`, `bench`, `trace`, `help`, `exit` — until `exit`, Ctrl-D or the end of the input; then the
 * node leaves. History is kept per project in `.flotilla/shell_history` (`--history`).
 *
 * @example
 * ```ts
 * process.exitCode = await main(["shell", "-t", "nats://127.0.0.1:4222", "-n", "shop"]);
 * ```
 */
export async function shell(given: Parsed, _out: Output): Promise<number> {
  const { parsed, broker: brokerOptions } = await configure(given, "shell");
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`, "shell");
  }
  const o = clientOptions(parsed, brokerOptions);
  // Node warnings would land in the middle of what is typed: errors only, unless asked.
  o.logLevel ??= "error";
  const size = (parsed.options["history-size"] as number | undefined) ?? DEFAULT_HISTORY_SIZE;
  const file = parsed.options.history as string | undefined;
  const history = size === 0 ? undefined : { path: historyPath(file), size };
  const screen = new Screen(process.stdout);
  const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
  // Before the node starts: its tracing middleware wraps calls only when an SDK is registered.
  const spans = await spanSource();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  try {
    return await withClient(o, async (broker) => {
      await settle(broker, Math.min(o.wait, FIRST_LOOK_MS), `Discovering nodes on ${where(o)}`);
      const count = broker.registry.remote.nodes.size;
      screen.line(
        `Connected to ${where(o)} as ${broker.nodeID}: ${count} node${count === 1 ? "" : "s"} seen. ` +
          `${screen.dim("Type 'help' for the commands, Ctrl-D to leave.")}`,
      );
      const name = o.namespace ? `flotilla:${o.namespace}` : "flotilla";
      await runSession({
        broker,
        input: process.stdin,
        output: process.stdout,
        progress: process.stderr,
        screen,
        terminal,
        history,
        wait: o.wait,
        where: where(o),
        spans,
        prompt: `${screen.bold(screen.cyan(name))}> `,
        stop: stop.signal,
      });
      // The terminal is done with: it must not keep the process alive once the node has left.
      if (process.stdin.isTTY) process.stdin.unref();
      return 0;
    });
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
    if (spans.kind === "memory") await spans.close();
  }
}
