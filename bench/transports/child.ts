// The child processes of the benchmark, both sides of them:
// - the child itself, one side of a contender in a process of its own:
//     node --import tsx bench/transports/child.ts serve|client <kind> <transport> <codec> <ns> <port>
//   `serve` starts the server side and prints its ready line. `client` connects, checks one call,
//   prints its ready line, then runs the commands it reads from stdin, one JSON line each (see
//   measure.ts), and answers each with one line. Both close and exit on SIGTERM or when stdin
//   closes (the runner is gone). Lines of ours start with LINE_PREFIX; anything else on stdout is
//   the contender's own logging.
// - the runner's handle on a pair of them (openPair, command, closePair), used by run.ts.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { contenders } from "./contenders/index.js";
import type { Codec, Endpoint, Kind, Transport } from "./contract.js";
import {
  type Command,
  closedLoop,
  type LatencyResult,
  LINE_PREFIX,
  type LoopResult,
  openLoop,
  processCpuMs,
  type Reply,
  send,
} from "./measure.js";

const CHILD = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The runner's handle on a child process: its protocol lines, its stop. */
export class Child {
  readonly proc: ChildProcess;
  readonly tail: string[] = [];
  onMark: (mark: "start" | "stop") => void = () => {};
  #replies: Reply[] = [];
  #waiter: ((reply: Reply | Error) => void) | undefined;
  #exited: Error | undefined;

  constructor(role: "serve" | "client", kind: Kind, at: Endpoint) {
    const args = [role, kind, at.transport, at.codec, at.namespace, String(at.port)];
    this.proc = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], { cwd: ROOT });
    live.add(this.proc);
    const keep = (line: string) => this.tail.push(line) > 15 && this.tail.shift();
    createInterface({ input: this.proc.stderr! }).on("line", keep);
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      if (!line.startsWith(LINE_PREFIX)) return void keep(line);
      const reply = JSON.parse(line.slice(LINE_PREFIX.length)) as Reply;
      // Marks are handled at once: the server's CPU is read as close to the mark as it gets.
      if ("mark" in reply) return this.onMark(reply.mark);
      this.#deliver(reply);
    });
    this.proc.on("exit", (code, signal) => {
      live.delete(this.proc);
      this.#exited = new Error(`${role} exited (${signal ?? code}): ${this.tail.join(" | ")}`);
      this.#deliver(this.#exited);
    });
  }

  #deliver(reply: Reply | Error): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter(reply);
    else if (!(reply instanceof Error)) this.#replies.push(reply);
  }

  /** The next reply; rejects if the child exits or nothing comes within `ms`. */
  next(ms: number): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`no answer in ${ms} ms: ${this.tail.join(" | ")}`));
      }, ms);
      this.#waiter = (reply) => {
        clearTimeout(timer);
        if (reply instanceof Error) reject(reply);
        else if ("error" in reply) reject(new Error(reply.error));
        else resolve(reply);
      };
    });
  }

  /** SIGTERM (the child closes its contender), SIGKILL if it is still there after 3 s. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
});

/** A contender's server and client children, ready for commands. */
export interface Pair {
  server: Child;
  client: Child;
  serverPid: number;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

let pairs = 0;

/** Starts a server child, waits for its ready line, then the client child likewise. */
export async function openPair(kind: Kind, transport: Transport, codec: Codec): Promise<Pair> {
  const at: Endpoint = {
    transport,
    codec,
    namespace: `tb${process.pid}x${++pairs}`,
    port: await freePort(),
  };
  const server = new Child("serve", kind, at);
  const client = { current: undefined as Child | undefined };
  try {
    const ready = await server.next(60_000);
    client.current = new Child("client", kind, at);
    await client.current.next(60_000);
    return { server, client: client.current, serverPid: "pid" in ready ? ready.pid : 0 };
  } catch (err) {
    await Promise.all([server.stop(), client.current?.stop()]);
    throw err;
  }
}

/** Runs one command; the server's CPU is read at the client's start and stop marks. */
export async function command<R extends LoopResult | LatencyResult>(
  pair: Pair,
  cmd: Command,
  ms: number,
) {
  const cpu = { start: 0, stop: 0 };
  pair.client.onMark = (mark) => {
    cpu[mark] = processCpuMs(pair.serverPid);
  };
  pair.client.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
  const reply = await pair.client.next(ms + 60_000);
  if (!("result" in reply)) throw new Error(`unexpected answer ${JSON.stringify(reply)}`);
  return { result: reply.result as R, serverCpuMs: cpu.stop - cpu.start };
}

/** Ends a pair: both children get SIGTERM, and SIGKILL if they are still there after 3 s. */
export const closePair = (pair: Pair) => Promise.all([pair.client.stop(), pair.server.stop()]);

// ------------------------------------------------------------------ the child process itself

/** Awaits `close` for at most 2 s: a contender that hangs on close must not hold the run. */
async function closeAndExit(close: () => Promise<void>): Promise<never> {
  const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
  await Promise.race([close().catch(() => undefined), timeout]);
  process.exit(0);
}

/** Closes on SIGTERM (the runner ends the pair) or at the end of stdin (the runner is gone). */
function onStop(close: () => Promise<void>): void {
  const stop = () => void closeAndExit(close);
  process.once("SIGTERM", stop);
  process.stdin.once("end", stop);
}

/** A string of `size` ASCII characters that JSON carries unescaped. */
const payloads = new Map<number, string>();
function payload(size: number): string {
  let text = payloads.get(size);
  if (text === undefined) {
    const pattern = "abcdefghijklmnopqrstuvwxyz0123456789";
    text = pattern.repeat(Math.ceil(size / pattern.length)).slice(0, size);
    payloads.set(size, text);
  }
  return text;
}

async function childMain(): Promise<void> {
  const [, , role, kind, transport, codec, namespace, port] = process.argv;
  const contender = contenders[kind as Kind];
  if (contender === undefined || (role !== "serve" && role !== "client")) {
    console.error("usage: child.ts serve|client <kind> <transport> <codec> <namespace> <port>");
    return process.exit(2);
  }
  const at: Endpoint = {
    transport: transport as Transport,
    codec: codec as Codec,
    namespace: namespace ?? "bench",
    port: Number(port),
  };

  process.on("unhandledRejection", (err) => {
    send({ error: `unhandled rejection: ${String(err)}` });
    process.exit(1);
  });

  if (role === "serve") {
    const server = await contender.serve(at);
    onStop(() => server.close());
    process.stdin.resume();
    send({ ready: true, pid: process.pid });
  } else {
    const client = await contender.client(at);
    // A contender that answers wrongly would be measured doing something else: check once.
    const sum = await client.add();
    if (sum !== 3) throw new Error(`add() returned ${JSON.stringify(sum)}, not 3`);
    const checked = new Set<number>();
    const echo = async (size: number) => {
      const text = payload(size);
      if (!checked.has(size)) {
        const back = await client.echo(text);
        if (back !== text) throw new Error(`echo() of ${size} B did not return the payload`);
        checked.add(size);
      }
      return () => client.echo(text);
    };
    const mark = (at: "start" | "stop") => send({ mark: at });
    const run = async (cmd: Command) => {
      if (cmd.op === "latency")
        return send({ result: await openLoop(() => client.add(), cmd, mark) });
      const op = cmd.call === "add" ? () => client.add() : await echo(cmd.size ?? 100);
      const result = await closedLoop(op, cmd.inFlight, cmd.ms, cmd.warmup ? () => {} : mark);
      send({ result });
    };
    // One command at a time, in order: the runner waits for each answer before the next.
    let queue = Promise.resolve();
    createInterface({ input: process.stdin }).on("line", (line) => {
      queue = queue.then(() =>
        run(JSON.parse(line) as Command).catch((err: unknown) => send({ error: String(err) })),
      );
    });
    onStop(() => client.close());
    send({ ready: true, pid: process.pid });
  }
}

if (process.argv[1] === CHILD) await childMain();
