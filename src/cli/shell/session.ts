import { createInterface } from "node:readline";
import type { ServiceBroker } from "../../broker/broker.js";
import { execute } from "./commands.js";
import { completer } from "./complete.js";
import type { ShellContext } from "./context.js";
import { type HistoryFile, loadHistory, saveHistory } from "./history.js";
import type { Screen } from "./screen.js";
import type { SpanSource } from "./trace.js";

/** What a shell session reads from, writes to and works with. */
export interface SessionOptions {
  broker: ServiceBroker;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & Pick<NodeJS.WriteStream, "isTTY">;
  /** Progress lines and bars (stderr). */
  progress: Pick<NodeJS.WriteStream, "write" | "isTTY">;
  screen: Screen;
  /** Line editing, Tab and history: on for a terminal. */
  terminal: boolean;
  history: HistoryFile | undefined;
  wait: number;
  where: string;
  spans: SpanSource;
  prompt: string;
  /** Ends the session as Ctrl-D does (SIGTERM, SIGHUP). */
  stop?: AbortSignal;
}

/**
 * Reads commands line by line and runs them one at a time (lines typed meanwhile wait their
 * turn). Ctrl-C cancels the running command, or clears the line being typed; Ctrl-D on an empty
 * line, `exit` or the end of the input ends the session. Resolves once the last command is done.
 *
 * @example
 * ```ts
 * await runSession({ broker, input: process.stdin, output: process.stdout, ... });
 * ```
 */
export function runSession(o: SessionOptions): Promise<void> {
  const rl = createInterface({
    input: o.input,
    output: o.output,
    terminal: o.terminal,
    completer: completer(o.broker),
    history: o.history && o.terminal ? loadHistory(o.history) : [],
    historySize: o.history?.size ?? 0,
    removeHistoryDuplicates: true,
    prompt: o.prompt,
    tabSize: 2,
  });
  let historyFailed = false;
  rl.on("history", (lines: string[]) => {
    if (o.history === undefined) return;
    try {
      saveHistory(o.history, lines);
    } catch (err) {
      if (historyFailed) return;
      historyFailed = true;
      o.screen.note(`history is not saved: ${(err as Error).message}`);
    }
  });
  const queue: string[] = [];
  let running: AbortController | undefined;
  let closed = false;
  let leaving = false;
  let finish: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const pump = async () => {
    while (queue.length > 0 && !leaving) {
      const line = queue.shift()!;
      if (line.trim() === "") continue;
      running = new AbortController();
      const ctx: ShellContext = {
        broker: o.broker,
        screen: o.screen,
        signal: running.signal,
        wait: o.wait,
        where: o.where,
        spans: o.spans,
        progress: o.progress,
        exit: () => {
          leaving = true;
        },
      };
      await execute(line, ctx);
      running = undefined;
    }
    if (leaving || closed) {
      if (!closed) rl.close();
      finish();
      return;
    }
    prompt();
  };
  // Without a terminal (a script piped in) no prompt is printed: the output is the answers only.
  const prompt = () => {
    if (o.terminal) rl.prompt();
  };

  rl.on("line", (line) => {
    queue.push(line);
    if (running === undefined && queue.length === 1) void pump();
  });
  rl.on("SIGINT", () => {
    if (running !== undefined) {
      queue.length = 0;
      running.abort();
      return;
    }
    // As a shell does: the line typed so far is dropped, and a fresh prompt shown.
    rl.write(null, { ctrl: true, name: "e" });
    o.output.write("^C\n");
    rl.write(null, { ctrl: true, name: "u" });
  });
  rl.on("close", () => {
    closed = true;
    if (o.terminal) {
      // Ctrl-D: the running command is cancelled, lines typed ahead are dropped.
      o.output.write("\n");
      queue.length = 0;
      running?.abort();
    }
    if (running === undefined && queue.length === 0) finish();
    else if (running === undefined) void pump();
  });
  o.stop?.addEventListener("abort", () => rl.close(), { once: true });
  prompt();
  return finished;
}
