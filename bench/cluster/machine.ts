// CPU time of the machine and of the nats-server process, read from /proc (Linux), so a
// measurement can say how busy the machine was and what the message broker spent.
import { readdirSync, readFileSync } from "node:fs";

/** Busy and total CPU time of the whole machine, in seconds. */
export interface MachineTimes {
  busy: number;
  total: number;
}

const TICK = 100; // USER_HZ on Linux

export function machineTimes(): MachineTimes | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: (total - idle) / TICK, total: total / TICK };
  } catch {
    return undefined;
  }
}

/**
 * The pid of the nats-server that listens on `port`, if this machine has one we can see: the
 * one whose command line names the port (tests start private servers on other ports), else
 * the oldest.
 */
export function natsServerPid(port: number): number | undefined {
  const found: { pid: number; args: string[] }[] = [];
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "nats-server") continue;
        const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
        found.push({ pid: Number(entry), args });
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  found.sort((a, b) => a.pid - b.pid);
  const byPort = found.find(({ args }) =>
    args.some(
      (a, i) =>
        a === String(port) ||
        a.endsWith(`:${port}`) ||
        (a === "-p" && args[i + 1] === String(port)),
    ),
  );
  return (byPort ?? found[0])?.pid;
}

/** CPU seconds (user + system) a process has used. */
export function processSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the machine (others: nothing of this bench runs now) uses fewer than `limit`
 * cores over one second, at most `maxWaitMs`. Returns the seconds waited and the cores in use
 * over the last second: the machine is shared, and a busy one slows every phase down.
 */
export async function waitForQuiet(
  limit: number,
  maxWaitMs: number,
): Promise<{ waitedSeconds: number; busyCores: number | undefined }> {
  const started = performance.now();
  let busy: number | undefined;
  for (;;) {
    const a = machineTimes();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const b = machineTimes();
    busy = a && b ? Math.round((b.busy - a.busy) * 100) / 100 : undefined;
    if (busy === undefined || busy < limit || performance.now() - started >= maxWaitMs) break;
  }
  return { waitedSeconds: Math.round((performance.now() - started) / 100) / 10, busyCores: busy };
}
