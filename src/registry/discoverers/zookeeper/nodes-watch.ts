import type { Logger } from "../../../observability/logger.js";
import { nodeIdOfKey } from "../keys.js";
import type { ZkConnection, ZkWatchEvent } from "./client.js";
import { failureOf, isDisconnect } from "./failures.js";

/** Where the watch reports what it reads. */
export interface NodesSink {
  snapshot(entries: ReadonlyMap<string, string>): void;
  put(nodeID: string, value: string): void;
  delete(nodeID: string): void;
  /** The list of entries no longer holds this node's own (someone deleted it). */
  ownMissing(): void;
}

/**
 * Follows the nodes folder of one session: a watch on its children (joins and leaves) and one on
 * each entry's data (changes and deletions), each set again by the read that follows its firing.
 * ZooKeeper fires a watch once, and the read that follows sees every change made meanwhile.
 *
 * Watch callbacks arrive in the middle of the library's socket handling, before the replies
 * read in the same packet reach their awaiting code. So every read and every change to the view
 * runs in one queue, in the order it was asked for: a deletion seen by a watch can never be
 * undone by a full read that started before it.
 */
export class NodesWatch {
  /** Entry text by znode name, as last reported. */
  #known = new Map<string, string>();
  #queue: Promise<void> = Promise.resolve();
  /** Work waiting in the queue and not started, so a burst of events costs one read. */
  #queued = new Set<string>();
  #closed = false;

  constructor(
    private readonly connection: ZkConnection,
    private readonly folder: string,
    private readonly ownName: string,
    private readonly sink: NodesSink,
    private readonly logger: Logger,
  ) {}

  /** Reads every entry (setting the watches) and reports them as the full view. */
  snapshot(): Promise<void> {
    return this.#enqueue("snapshot", () => this.#readAll(), true);
  }

  /** Stops reporting; the session's watches die with it. */
  close(): void {
    this.#closed = true;
  }

  readonly #onChildren = (): void => {
    void this.#enqueue("list", () => this.#list());
  };

  /**
   * An entry changed or was deleted: read it again. A deletion is checked too, since a node
   * replaces its entry (a new session) by a deletion and a creation in one transaction.
   */
  readonly #onData = (event: ZkWatchEvent): void => {
    const name = event.path.slice(this.folder.length + 1);
    void this.#enqueue(`read ${name}`, () => this.#read(name));
  };

  /**
   * Runs `work` after everything queued before it. A piece of work already waiting under the
   * same key is not queued twice. Failures from a lost connection are left to the reconnect,
   * which reads everything again; others are logged, and passed on when `rethrow`.
   */
  #enqueue(key: string, work: () => Promise<void>, rethrow = false): Promise<void> {
    if (this.#queued.has(key) && !rethrow) return this.#queue;
    this.#queued.add(key);
    const run = this.#queue.then(async () => {
      this.#queued.delete(key);
      if (this.#closed) return;
      try {
        await work();
      } catch (err) {
        if (rethrow) throw err;
        if (!isDisconnect(err)) {
          this.logger.warn({ err, folder: this.folder }, "Could not read ZooKeeper node entries");
        }
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #readAll(): Promise<void> {
    const names = await this.connection.children(this.folder, this.#onChildren);
    const read = await Promise.all(names.map((name) => this.#fetch(name)));
    if (this.#closed) return;
    const known = new Map<string, string>();
    for (const [i, name] of names.entries()) {
      const value = read[i];
      if (value !== undefined) known.set(name, value);
    }
    this.#known = known;
    const entries = new Map<string, string>();
    for (const [name, value] of known) {
      const nodeID = this.#nodeID(name);
      if (nodeID !== undefined) entries.set(nodeID, value);
    }
    this.sink.snapshot(entries);
    if (!known.has(this.ownName)) this.sink.ownMissing();
  }

  async #list(): Promise<void> {
    const names = new Set(await this.connection.children(this.folder, this.#onChildren));
    for (const name of [...this.#known.keys()]) if (!names.has(name)) this.#drop(name);
    for (const name of names) if (!this.#known.has(name)) await this.#read(name);
    if (!names.has(this.ownName)) this.sink.ownMissing();
  }

  async #read(name: string): Promise<void> {
    const value = await this.#fetch(name);
    if (value === undefined) {
      this.#drop(name);
      return;
    }
    if (this.#known.get(name) === value) return;
    this.#known.set(name, value);
    const nodeID = this.#nodeID(name);
    if (nodeID !== undefined) this.sink.put(nodeID, value);
  }

  /** An entry's text, with a watch on it; `undefined` when it is gone already. */
  async #fetch(name: string): Promise<string | undefined> {
    try {
      const { data } = await this.connection.getData(`${this.folder}/${name}`, this.#onData);
      return data.toString("utf8");
    } catch (err) {
      if (failureOf(err) === "noNode") return undefined;
      throw err;
    }
  }

  #drop(name: string): void {
    if (!this.#known.delete(name)) return;
    const nodeID = this.#nodeID(name);
    if (nodeID !== undefined) this.sink.delete(nodeID);
  }

  #nodeID(name: string): string | undefined {
    return nodeIdOfKey(this.folder, `${this.folder}/${name}`);
  }
}
