import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { defineService } from "../../../src/index.js";

/** A consumer that holds what it gets and never acks, until it is killed. */
export interface Victim {
  /** Resolves with the message ID once its handler has a message in hand. */
  readonly busy: Promise<string>;
  /** Ends it as kill -9 would: no goodbye, no ack. */
  kill(): Promise<void>;
}

/**
 * The member of group `worker` of `job.run` that the kill scenario kills: one handler at a time,
 * which calls `onBusy` and never finishes, so its message stays unacknowledged.
 */
export function holdingWorker(onBusy: (messageID: string, attempt: number) => void) {
  return defineService({
    name: "worker",
    events: {
      "job.run": {
        durable: true,
        concurrency: 1,
        handler: (ctx) => new Promise<void>(() => onBusy(ctx.messageID ?? "", ctx.attempt ?? 0)),
      },
    },
  });
}

const root = fileURLToPath(new URL("../../..", import.meta.url));
const fixture = fileURLToPath(new URL("./consumer.ts", import.meta.url));
const children = new Set<ChildProcess>();

/** Kills every victim process still alive (for `afterEach`). */
export function killVictims(): void {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
}

/**
 * Runs {@link holdingWorker} in a process of its own (`consumer.ts`) on `transporter`, in
 * `namespace`; resolves once it consumes.
 *
 * @example
 * ```ts
 * const victim = await spawnVictim("redis://127.0.0.1:6379?claimIdle=2000", ns);
 * const messageID = await victim.busy;
 * await victim.kill();
 * ```
 */
export async function spawnVictim(transporter: string, namespace: string): Promise<Victim> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    cwd: root,
    env: { ...process.env, TRANSPORTER: transporter, NAMESPACE: namespace },
  });
  children.add(child);
  await line(child, "ready");
  const busy = line(child, "busy").then((l) => l.split(" ")[1] ?? "");
  busy.catch(() => undefined);
  return {
    busy,
    kill: async () => {
      child.kill("SIGKILL");
      children.delete(child);
    },
  };
}

/** Resolves with the first stdout line of `child` that starts with `prefix`. */
function line(child: ChildProcess, prefix: string, timeout = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`no '${prefix}' from the child`)), timeout);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const hit = buffered.split("\n").find((l) => l.startsWith(prefix));
      if (hit === undefined) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      resolve(hit);
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the child exited (${code}) before '${prefix}'`));
    });
  });
}
