// The parent's handle on one worker process: fork it, send it orders, wait for its answers.
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { FromWorker, ToWorker } from "./protocol.js";

const workerFile = fileURLToPath(new URL("./worker.ts", import.meta.url));

type Answer<T extends FromWorker["type"]> = Extract<FromWorker, { type: T }>;

export class Worker {
  readonly proc: ChildProcess;
  readonly #inbox: FromWorker[] = [];
  #waiter: (() => void) | undefined;
  #failure: Error | undefined;

  /** `flags`: extra Node flags (`--cpu-prof`, say) on top of tsx and --expose-gc. */
  constructor(
    readonly index: number,
    flags: readonly string[] = [],
  ) {
    this.proc = fork(workerFile, [], {
      execArgv: ["--import", "tsx", "--expose-gc", ...flags],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.proc.on("message", (msg: FromWorker) => {
      if (msg.type === "failed") this.#fail(new Error(`worker ${index}: ${msg.error}`));
      else this.#inbox.push(msg);
      this.#wake();
    });
    this.proc.on("exit", (code, signal) => {
      this.#fail(new Error(`worker ${index} exited (${signal ?? code})`));
    });
  }

  send(msg: ToWorker): void {
    this.proc.send(msg);
  }

  /** The next answer of `type` (earlier answers of other types are kept for later). */
  async next<T extends FromWorker["type"]>(type: T, timeoutMs: number): Promise<Answer<T>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.#inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.#inbox.splice(i, 1)[0] as Answer<T>;
      if (this.#failure !== undefined) throw this.#failure;
      const left = deadline - performance.now();
      if (left <= 0)
        throw new TimeoutError(`worker ${this.index}: no '${type}' in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Asks and waits for the answer. */
  async ask<T extends FromWorker["type"]>(
    msg: ToWorker,
    type: T,
    timeoutMs: number,
  ): Promise<Answer<T>> {
    this.send(msg);
    return this.next(type, timeoutMs);
  }

  /** Asks the worker to exit, and kills it if it has not within `ms`. */
  async exit(ms: number): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, "exit");
    if (this.proc.connected) this.proc.send({ type: "exit" } satisfies ToWorker);
    const timer = setTimeout(() => this.kill(), ms);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

/** A phase took longer than its budget. */
export class TimeoutError extends Error {}
