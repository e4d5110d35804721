import { PacketTooLargeError } from "../../../errors/index.js";
import type { DiscovererContext } from "../discoverer.js";
import { nodeKey, nodesPath } from "../keys.js";
import type { loadZooKeeperClient, ZkConnection } from "./client.js";
import { isDisconnect } from "./failures.js";
import { NodesWatch } from "./nodes-watch.js";
import { OwnEntry } from "./own-entry.js";
import { SessionKeeper, type SessionListener } from "./session.js";

type ZkModule = Awaited<ReturnType<typeof loadZooKeeperClient>>;

/** Where and how to reach ZooKeeper, from the discovery URL. */
export interface ZooKeeperSettings {
  readonly hosts: readonly string[];
  readonly prefix: string;
  /** Digest credentials, `user:password`. */
  readonly auth?: string;
}

/** How long a start waits for ZooKeeper before it says, once, that the node is waiting. */
const WAIT_NOTICE = 1_000;
/** Pauses between attempts to register and read after a failure that is not a lost connection. */
const RETRY = { first: 250, max: 5_000 };

/**
 * One run of the ZooKeeper discoverer, from `start` to `stop` or `halt`: a session kept alive by
 * a {@link SessionKeeper}; on each new session this node's ephemeral znode is written
 * ({@link OwnEntry}) and the nodes folder read and watched ({@link NodesWatch}); when the same
 * session comes back after a disconnect, the entry is written again (it may have changed
 * meanwhile) and the folder read again.
 */
export class ZooKeeperRun implements SessionListener {
  readonly started: Promise<void>;
  readonly #context: DiscovererContext;
  readonly #keeper: SessionKeeper;
  readonly #own: OwnEntry;
  readonly #folder: string;
  readonly #ownName: string;
  #watch: NodesWatch | undefined;
  /** `start` resolved: from now on connection changes go to the context. */
  #ready = false;
  #online = true;
  #leaving = false;
  /** The entry changed when it could not be written: write it once registered. */
  #dirty = false;
  #delay = RETRY.first;
  #retry: NodeJS.Timeout | undefined;
  #settle!: { resolve: () => void; reject: (err: unknown) => void };

  constructor(zk: ZkModule, settings: ZooKeeperSettings, context: DiscovererContext) {
    this.#context = context;
    const { logger, signal } = context;
    this.#folder = nodesPath(settings.prefix, context.namespace);
    const path = nodeKey(settings.prefix, context.namespace, context.nodeID);
    this.#ownName = path.slice(this.#folder.length + 1);
    this.#own = new OwnEntry(path, context.entry, logger);
    this.started = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    const { hosts, auth } = settings;
    const sessionTimeout = context.ttl;
    const spinDelay = Math.min(1_000, Math.max(100, sessionTimeout / 4));
    const connection = {
      hosts,
      sessionTimeout,
      spinDelay,
      ...(auth === undefined ? {} : { auth }),
    };
    this.#keeper = new SessionKeeper(zk, connection, logger, this);
    const notice = setTimeout(() => {
      logger.warn(
        { hosts, nodeID: context.nodeID },
        `Waiting for ZooKeeper at ${hosts.join(",")} to register node '${context.nodeID}'; retrying until it answers`,
      );
    }, WAIT_NOTICE);
    notice.unref();
    void this.started.then(
      () => clearTimeout(notice),
      () => clearTimeout(notice),
    );
    if (signal.aborted) {
      this.#giveUp(signal.reason);
      return;
    }
    signal.addEventListener("abort", () => this.#aborted(), { once: true });
    this.#keeper.open();
  }

  up(connection: ZkConnection, fresh: boolean): void {
    if (fresh) {
      this.#watch?.close();
      this.#watch = new NodesWatch(
        connection,
        this.#folder,
        this.#ownName,
        this.#sink,
        this.#context.logger,
      );
    }
    if (this.#ready && !this.#online) {
      this.#online = true;
      this.#context.onConnection(true);
    }
    void this.#sync(connection, fresh);
  }

  down(): void {
    clearTimeout(this.#retry);
    if (this.#ready && this.#online) {
      this.#online = false;
      this.#context.onConnection(false);
    }
  }

  /** Writes the newest entry; while ZooKeeper is unreachable, the next session writes it. */
  async update(): Promise<void> {
    if (this.#leaving) return;
    const connection = this.#keeper.connection;
    if (connection === undefined || !this.#ready) {
      this.#dirty = true;
      return;
    }
    try {
      await this.#own.write(connection);
    } catch (err) {
      if (!isDisconnect(err)) throw err;
      this.#dirty = true;
    }
  }

  /** Deletes the entry, ends the session. Never waits long on a registry that does not answer. */
  async stop(): Promise<void> {
    this.#leaving = true;
    this.#end();
    const connection = this.#keeper.connection;
    if (connection !== undefined) {
      await withTimeout(this.#own.remove(connection), this.#context.ttl).catch(() => undefined);
    }
    await this.#keeper.close(1_000);
  }

  /** Drops the connection and leaves the session (and the entry) to expire. */
  halt(): void {
    this.#leaving = true;
    this.#end();
    this.#keeper.abandon();
  }

  readonly #sink = {
    snapshot: (entries: ReadonlyMap<string, string>) => this.#context.onSnapshot(entries),
    put: (nodeID: string, value: string) => this.#context.onPut(nodeID, value),
    delete: (nodeID: string) => this.#context.onDelete(nodeID),
    ownMissing: () => {
      const connection = this.#keeper.connection;
      if (connection === undefined || !this.#ready || this.#leaving) return;
      this.#context.logger.warn("This node's ZooKeeper entry was deleted: writing it again");
      this.#own.restore(connection).catch((err: unknown) => {
        if (!isDisconnect(err)) this.#context.logger.warn({ err }, "Could not write it again");
      });
    },
  };

  /** Registers (or rewrites the entry) and reads the whole view; on failure, tries again. */
  async #sync(connection: ZkConnection, fresh: boolean): Promise<void> {
    clearTimeout(this.#retry);
    const watch = this.#watch;
    if (watch === undefined || this.#leaving) return;
    try {
      this.#dirty = false;
      if (fresh) await this.#own.register(connection);
      else await this.#own.write(connection);
      await watch.snapshot();
      if (this.#dirty) await this.#own.write(connection);
      this.#dirty = false;
    } catch (err) {
      if (this.#leaving || connection !== this.#keeper.connection || isDisconnect(err)) return;
      if (err instanceof PacketTooLargeError && !this.#ready) return this.#giveUp(err);
      this.#context.logger.warn({ err }, "Could not register with ZooKeeper; trying again");
      this.#retry = setTimeout(() => void this.#sync(connection, fresh), this.#delay);
      this.#retry.unref();
      this.#delay = Math.min(this.#delay * 2, RETRY.max);
      return;
    }
    this.#delay = RETRY.first;
    if (this.#ready) return;
    this.#ready = true;
    this.#context.logger.info(
      { path: `${this.#folder}/${this.#ownName}` },
      `Registered node '${this.#context.nodeID}' with ZooKeeper`,
    );
    this.#settle.resolve();
  }

  /** The broker gives up on the start, or stops: no new attempt from here on. */
  #aborted(): void {
    if (this.#ready) {
      this.#keeper.noNewSessions();
      clearTimeout(this.#retry);
      return;
    }
    this.#giveUp(this.#context.signal.reason);
  }

  #giveUp(reason: unknown): void {
    this.#leaving = true;
    this.#end();
    void this.#keeper.close(0);
    this.#settle.reject(
      reason instanceof Error ? reason : new Error("The ZooKeeper discoverer's start was aborted"),
    );
  }

  #end(): void {
    clearTimeout(this.#retry);
    this.#watch?.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
