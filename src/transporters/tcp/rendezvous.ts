import { type FSWatcher, watch } from "node:fs";
import { mkdir, readdir, readFile, rename, rmdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../../observability/logger.js";

/** What a node writes to `<dir>/<nodeID>.json`. */
export interface RendezvousEntry {
  nodeID: string;
  host: string;
  port: number;
  pid: number;
  startedAt: number;
  /** Tells this run of the node from an earlier one that left its file behind. */
  instance: string;
}

/** Called for every live peer entry on every scan; the mesh ignores peers it already has. */
export type PeerFound = (nodeID: string, address: { host: string; port: number }) => void;

/** File name of a node's entry; encoded, since a nodeID may hold `/` or other odd characters. */
export const entryFileName = (nodeID: string): string => `${encodeURIComponent(nodeID)}.json`;

/**
 * Discovery through a directory on this machine, which works with no network features at all
 * (no multicast, no broadcast). Each node writes its entry and watches the directory (`fs.watch`,
 * plus a periodic rescan for file systems where watching is unreliable). Entries of dead
 * processes are removed; a node removes its own entry when it disconnects.
 */
export class Rendezvous {
  private readonly file: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    readonly dir: string,
    private readonly self: RendezvousEntry,
    private readonly found: PeerFound,
    private readonly logger: Logger,
    private readonly interval: number,
  ) {
    this.file = path.join(dir, entryFileName(self.nodeID));
  }

  /** Publishes our entry and scans once, so peers already there are known when this resolves. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const previous = await readEntry(this.file);
    if (previous && previous.pid !== process.pid && isAlive(previous.pid)) {
      this.logger.warn({ pid: previous.pid }, "another live process uses this nodeID");
    }
    await this.writeOwn();
    try {
      this.watcher = watch(this.dir, () => this.soon());
      this.watcher.on("error", () => this.watcher?.close()); // the rescan carries on alone
      this.watcher.unref();
    } catch (err) {
      this.logger.debug({ err }, "fs.watch unavailable; relying on the periodic rescan");
    }
    this.timer = setInterval(() => void this.scan(), this.interval);
    this.timer.unref();
    await this.scan();
  }

  /** Stops watching; removes our entry unless `crash` (a simulated crash leaves it behind). */
  async stop(crash = false): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    this.watcher?.close();
    await this.scanning;
    if (crash) return;
    const current = await readEntry(this.file);
    // Only our own entry: a successor under the same nodeID may have replaced it.
    if (current?.instance === this.self.instance) await unlink(this.file).catch(() => undefined);
    // The last node of a namespace leaves no empty folder behind (`rmdir` fails on a folder that
    // still holds entries); a node starting meanwhile makes it again (see `writeOwn`).
    await rmdir(this.dir).catch(() => undefined);
  }

  /** Scans now, or once more after the scan in progress. */
  scan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce()
      .catch((err: unknown) => this.logger.debug({ err, dir: this.dir }, "rendezvous scan failed"))
      .finally(() => {
        this.scanning = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.scan();
        }
      });
    return this.scanning;
  }

  /** Watch events come in bursts (a write is create + change + rename): scan once per burst. */
  private soon(): void {
    if (this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.scan();
    }, 10);
    this.debounce.unref();
  }

  private async scanOnce(): Promise<void> {
    if (this.stopped) return;
    const names = await readdir(this.dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
      await mkdir(this.dir, { recursive: true }); // someone cleaned the temp dir
      return [] as string[];
    });
    const own = path.basename(this.file);
    if (!names.includes(own)) await this.writeOwn();
    for (const name of names) {
      if (this.stopped) return;
      if (!name.endsWith(".json") || name === own) continue;
      const file = path.join(this.dir, name);
      const entry = await readEntry(file);
      if (entry === undefined || entry.nodeID === this.self.nodeID) continue;
      if (!isAlive(entry.pid)) {
        this.logger.debug({ nodeID: entry.nodeID, pid: entry.pid }, "removing a stale entry");
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (!this.stopped) this.found(entry.nodeID, { host: entry.host, port: entry.port });
    }
  }

  private async writeOwn(): Promise<void> {
    // Write then rename, so a reader never sees half a file.
    const temp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(this.self));
    } catch (err) {
      // The last other node removed the empty folder between our mkdir and this write.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      await mkdir(this.dir, { recursive: true });
      await writeFile(temp, JSON.stringify(this.self));
    }
    await rename(temp, this.file);
  }
}

async function readEntry(file: string): Promise<RendezvousEntry | undefined> {
  try {
    const e = JSON.parse(await readFile(file, "utf8")) as Partial<RendezvousEntry>;
    const valid =
      typeof e.nodeID === "string" &&
      typeof e.host === "string" &&
      Number.isInteger(e.port) &&
      Number.isInteger(e.pid) &&
      (e.pid ?? 0) > 0;
    return valid ? (e as RendezvousEntry) : undefined;
  } catch {
    return undefined; // gone meanwhile, or not ours to understand
  }
}

/** Whether a process exists (`EPERM` means it does, under another user). */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
