import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import amqplib from "amqplib";
import type { FlotillaError } from "../../../src/index.js";
import { until } from "../../harness/index.js";

// The kombu peer (peer.py) as a test sees it: commands go in as JSON lines on its stdin, and
// every JSON line it prints (answers to commands, the calls and events it saw) is kept in
// `lines`, to wait on with `answer` and `seen`.

export const AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/";

/** Debian's Python 3, which has python3-kombu (the `python3` on PATH may be another). */
const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./peer.py", import.meta.url));

export type Line = Record<string, unknown>;

export class Peer {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  #next = 0;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.lines.push(JSON.parse(line) as Line);
      } catch {
        this.stderr.push(line);
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => this.stderr.push(chunk.toString()));
  }

  /** Starts the peer for service names ending in `suffix`; resolves once its queues exist. */
  static async start(suffix: string): Promise<Peer> {
    const child = spawn(PYTHON, [SCRIPT, AMQP_URL, suffix], { stdio: ["pipe", "pipe", "pipe"] });
    const peer = new Peer(child);
    await until(() => peer.lines.some((l) => l.ready === true) || child.exitCode !== null, {
      timeout: 20_000,
      message: "the kombu peer to be ready",
    });
    if (child.exitCode !== null) throw new Error(`peer.py exited: ${peer.stderr.join("")}`);
    return peer;
  }

  /** Sends a command and resolves with the peer's answer to it. */
  async send(command: Line): Promise<Line> {
    const id = `c${this.#next++}`;
    this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    return until(() => this.lines.find((l) => l.id === id), {
      timeout: 15_000,
      message: `the peer's answer to ${JSON.stringify(command)} (stderr: ${this.stderr.join("")})`,
    });
  }

  /** Lines the peer printed about what it saw (`seen: "rpc" | "event"`) matching `where`. */
  seen(where: (line: Line) => boolean): Line[] {
    return this.lines.filter((l) => l.seen !== undefined && where(l));
  }

  /** Stops the peer (it deletes the queues it declared) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin!.end(`${JSON.stringify({ cmd: "stop" })}\n`);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
    if (this.child.exitCode === null) this.child.kill();
    else if (this.child.exitCode !== 0) {
      throw new Error(`peer.py failed (${this.child.exitCode}): ${this.stderr.join("")}`);
    }
  }
}

/** Deletes queues and exchanges a test caused to exist; missing ones are fine. */
export async function deleteAll(queues: string[], exchanges: string[]): Promise<void> {
  const connection = await amqplib.connect(AMQP_URL);
  try {
    for (const queue of queues) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    for (const exchange of exchanges) {
      const channel = await connection.createChannel();
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close();
  }
}

/** The error a call rejects with; fails the test when it resolves instead. */
export async function rejection(call: Promise<unknown>): Promise<FlotillaError> {
  try {
    await call;
  } catch (err) {
    return err as FlotillaError;
  }
  throw new Error("The call resolved; it was expected to fail.");
}
