import type { ServiceBroker } from "../../broker/broker.js";
import { CallAbortedError } from "../../errors/index.js";
import type { Parsed, Specs } from "../args.js";
import { showProgress } from "../progress.js";
import type { Screen } from "./screen.js";
import type { SpanSource } from "./trace.js";

/** What a shell command works with. */
export interface ShellContext {
  broker: ServiceBroker;
  screen: Screen;
  /** Aborted when the user presses Ctrl-C (or leaves) while the command runs. */
  signal: AbortSignal;
  /** How long to wait for a node that offers an action, in ms (`--wait`). */
  wait: number;
  /** Where the shell is connected, for hints: `tcp:// (namespace "shop")`. */
  where: string;
  spans: SpanSource;
  /** Where progress lines and bars go (stderr): shown only when it is a terminal. */
  progress: Pick<NodeJS.WriteStream, "write" | "isTTY">;
  /** Asks the shell to end once this command is done. */
  exit(): void;
}

/** One command of the shell. */
export interface ShellCommand {
  usage: string;
  summary: string;
  options?: Specs;
  /** Unknown `--key value` pairs are the params (as for `flotilla call`). */
  params?: boolean;
  run(parsed: Parsed, ctx: ShellContext): Promise<void>;
}

/** `promise`, or a `CALL_ABORTED` rejection as soon as `signal` aborts (Ctrl-C). */
export function cancellable<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) return Promise.reject(new CallAbortedError(what, "you pressed Ctrl-C"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CallAbortedError(what, "you pressed Ctrl-C"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Waits until some node offers `action`, woken by registry changes, at most `ctx.wait` ms; Ctrl-C
 * ends the wait. A progress line says what it waits for. Returns whether the action is offered.
 */
export async function offered(ctx: ShellContext, action: string): Promise<boolean> {
  const registry = ctx.broker.registry;
  const ready = () =>
    registry.remote.actionEndpoints(action).length > 0 ||
    registry.catalog().some((a) => a.name === action);
  if (ready() || ctx.wait === 0 || ctx.signal.aborted) return ready();
  const progress = showProgress(`Waiting for action ${action} on ${ctx.where}`, ctx.progress);
  try {
    return await new Promise<boolean>((resolve) => {
      const finish = () => {
        unwatch();
        clearTimeout(timer);
        ctx.signal.removeEventListener("abort", finish);
        resolve(ready());
      };
      const unwatch = registry.watch(() => {
        if (ready()) finish();
      });
      const timer = setTimeout(finish, ctx.wait);
      ctx.signal.addEventListener("abort", finish, { once: true });
    });
  } finally {
    progress.stop();
  }
}
