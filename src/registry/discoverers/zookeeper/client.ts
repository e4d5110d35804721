import type { Client, Exception, Stat, State, Event as ZkEvent } from "node-zookeeper-client";
import { optionalDependency } from "../../../util/optional.js";
import { CONNECTION_LOSS, SESSION_EXPIRED, ZkDisconnected } from "./failures.js";
import { abandonSession, dialingSocket, dropSocket } from "./internals.js";

// A small promise-based face of `node-zookeeper-client`'s callback API, with only what the
// discoverer needs. The library queues requests made while it is reconnecting and never answers
// the queued ones if the session then expires; this wrapper refuses requests while the
// connection is down and fails every request still waiting when the connection is closed, so
// no caller waits forever.

type ZkModule = typeof import("node-zookeeper-client");

/** Loads `node-zookeeper-client`, an optional peer dependency, on first use. */
export const loadZooKeeperClient: () => Promise<ZkModule> = optionalDependency(
  "node-zookeeper-client",
  "The ZooKeeper discoverer",
  () => import("node-zookeeper-client"),
);

/** The part of a znode's stat the discoverer reads. */
export interface ZkStat {
  readonly version: number;
  /** The session that owns an ephemeral znode, in hex; all zeros for a persistent one. */
  readonly owner: string;
}

/** A fired watch: what happened to which path. */
export interface ZkWatchEvent {
  readonly kind: "created" | "deleted" | "dataChanged" | "childrenChanged";
  readonly path: string;
}

export type ZkWatcher = (event: ZkWatchEvent) => void;

/** What the connection reports: up, down (the session may live on), or over for good. */
export type ZkConnectionState = "connected" | "disconnected" | "expired" | "authFailed";

/** Settings of one client (one session). */
export interface ZkConnectionSettings {
  /** `host:port` of each server. */
  readonly hosts: readonly string[];
  /** Asked of the server, which bounds it (2 to 20 ticks by default). */
  readonly sessionTimeout: number;
  /** Longest pause between two rounds of connection attempts, in ms. */
  readonly spinDelay: number;
  /** Digest credentials (`user:password`), sent on every connect. */
  readonly auth?: string;
}

/**
 * One ZooKeeper client, hence one session: made connecting, reports its state changes, and ends
 * with `close` (the session ends and its ephemeral znodes go) or `abandon` (the session is left
 * to expire, as a crashed process leaves it). After `expired` it is dead: make a new one.
 */
export class ZkConnection {
  readonly #zk: ZkModule;
  readonly #client: Client;
  #state: ZkConnectionState | "connecting" | "closed" = "connecting";
  /** Requests sent and not answered yet: failed at once when the connection is closed. */
  readonly #waiting = new Set<(err: Error) => void>();
  #dials: NodeJS.Timeout | undefined;

  constructor(
    zk: ZkModule,
    settings: ZkConnectionSettings,
    onState: (state: ZkConnectionState) => void,
  ) {
    this.#zk = zk;
    const { sessionTimeout, spinDelay } = settings;
    this.#client = zk.createClient(settings.hosts.join(","), {
      sessionTimeout,
      spinDelay,
      retries: 0,
    });
    if (settings.auth !== undefined) {
      this.#client.addAuthInfo("digest", Buffer.from(settings.auth));
    }
    this.#client.on("state", (state: State) => {
      if (this.#state === "closed") return;
      const next = stateName(zk, state);
      if (next === undefined || next === this.#state) return;
      this.#state = next;
      if (next === "expired" || next === "authFailed") {
        clearInterval(this.#dials);
        this.#failWaiting(SESSION_EXPIRED);
      }
      onState(next);
    });
    this.#client.connect();
    this.#watchDials(Math.max(1_000, sessionTimeout / settings.hosts.length));
  }

  get connected(): boolean {
    return this.#state === "connected";
  }

  /** The session's ID in hex, as `ZkStat.owner` names owners. */
  get sessionId(): string {
    return this.#client.getSessionId().toString("hex");
  }

  /** The session timeout the server granted (the asked one until connected). */
  get sessionTimeout(): number {
    return this.#client.getSessionTimeout();
  }

  /** Creates `path` and its missing parents as persistent znodes. */
  mkdirp(path: string): Promise<void> {
    return this.#request<string>((done) => this.#client.mkdirp(path, done)).then(() => undefined);
  }

  create(path: string, data: Buffer, mode: "ephemeral" | "persistent"): Promise<void> {
    const flag =
      mode === "ephemeral" ? this.#zk.CreateMode.EPHEMERAL : this.#zk.CreateMode.PERSISTENT;
    return this.#request((done) => this.#client.create(path, data, flag, done)).then(
      () => undefined,
    );
  }

  /**
   * Deletes the znode (`version`: `-1` for any, and the library reads `0` as `-1` too) and
   * creates an ephemeral one in its place, in one transaction: watchers see the new one at once,
   * never a moment without either.
   */
  replace(path: string, version: number, data: Buffer): Promise<void> {
    const { EPHEMERAL } = this.#zk.CreateMode;
    return this.#request<undefined>((done) =>
      this.#client
        .transaction()
        .remove(path, version)
        .create(path, data, EPHEMERAL)
        .commit((err) => done(err)),
    );
  }

  /** The znode's data and stat; with `watcher`, also a watch on its data (fires once). */
  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; stat: ZkStat }> {
    return this.#request<{ data: Buffer; stat: ZkStat }>((done) => {
      const reply = (err: Error | Exception | null, data: Buffer | null, stat: Stat) =>
        err ? done(err) : done(null, { data: data ?? Buffer.alloc(0), stat: statOf(stat) });
      if (watcher === undefined) this.#client.getData(path, reply);
      else this.#client.getData(path, this.#watch(watcher), reply);
    });
  }

  /** Sets the data if the version matches (`-1`: any version). */
  setData(path: string, data: Buffer, version = -1): Promise<ZkStat> {
    return this.#request<Stat>((done) => this.#client.setData(path, data, version, done)).then(
      statOf,
    );
  }

  /** The names of the znode's children; with `watcher`, also a watch on them (fires once). */
  children(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return this.#request<string[]>((done) => {
      if (watcher === undefined) this.#client.getChildren(path, done);
      else this.#client.getChildren(path, this.#watch(watcher), done);
    });
  }

  /** Whether the znode exists: also a cheap round trip, to prove the link is alive. */
  exists(path: string): Promise<boolean> {
    return this.#request<Stat | null>((done) => this.#client.exists(path, done)).then(
      (stat) => stat !== null && stat !== undefined,
    );
  }

  /** Deletes the znode if the version matches (`-1`: any version). */
  remove(path: string, version = -1): Promise<void> {
    return this.#request<undefined>((done) =>
      this.#client.remove(path, version, (err) => done(err, undefined)),
    );
  }

  /**
   * Ends the session (the server deletes its ephemeral znodes at once) and the connection.
   * Resolves when the server closed it, or after `timeout` ms when it does not answer.
   */
  async close(timeout: number): Promise<void> {
    if (this.#state === "closed") return;
    const wasConnected = this.connected;
    const gone = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeout);
      timer.unref();
      this.#client.once("disconnected", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#state = "closed";
    clearInterval(this.#dials);
    this.#client.close();
    this.#failWaiting(CONNECTION_LOSS);
    if (wasConnected) await gone;
  }

  /** Drops the connection without ending the session, as a crashed process would. */
  abandon(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#dials);
    if (!abandonSession(this.#client)) this.#client.close();
    this.#failWaiting(CONNECTION_LOSS);
  }

  /** Drops the socket and lets the client dial again, keeping the session (a silent link). */
  redial(): void {
    dropSocket(this.#client);
  }

  /** Sends one request; refused at once while the connection is down. */
  #request<T>(
    send: (done: (err: Error | Exception | null, value?: T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.connected) {
        reject(new ZkDisconnected(this.#state === "expired" ? SESSION_EXPIRED : CONNECTION_LOSS));
        return;
      }
      const fail = (err: Error) => reject(err);
      this.#waiting.add(fail);
      try {
        send((err, value) => {
          this.#waiting.delete(fail);
          if (err) reject(err);
          else resolve(value as T);
        });
      } catch (err) {
        // The library checks its arguments (path syntax, data size) by throwing.
        this.#waiting.delete(fail);
        reject(err);
      }
    });
  }

  /**
   * Drops a dial whose handshake goes unanswered for `limit` ms, so the client dials again: the
   * library gives up on a dial only until the TCP connection is made.
   */
  #watchDials(limit: number): void {
    let seen: { socket: object; since: number } | undefined;
    this.#dials = setInterval(() => {
      const socket = dialingSocket(this.#client);
      if (socket === undefined || socket !== seen?.socket) {
        seen = socket === undefined ? undefined : { socket, since: Date.now() };
      } else if (Date.now() - seen.since >= limit) {
        seen = undefined;
        dropSocket(this.#client);
      }
    }, limit / 4);
    this.#dials.unref();
  }

  #failWaiting(code: number): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const fail of waiting) fail(new ZkDisconnected(code));
  }

  /**
   * The library's watcher for `watcher`. The library keeps one watcher per function and path,
   * so the same `watcher` set twice on a path fires once: callers keep one function per purpose.
   */
  #watch(watcher: ZkWatcher): (event: ZkEvent) => void {
    let wrapped = this.#wrapped.get(watcher);
    if (wrapped === undefined) {
      const { Event } = this.#zk;
      wrapped = (event: ZkEvent) => {
        if (this.#state === "closed") return;
        const kind =
          event.type === Event.NODE_CREATED
            ? "created"
            : event.type === Event.NODE_DELETED
              ? "deleted"
              : event.type === Event.NODE_DATA_CHANGED
                ? "dataChanged"
                : "childrenChanged";
        watcher({ kind, path: event.path });
      };
      this.#wrapped.set(watcher, wrapped);
    }
    return wrapped;
  }

  readonly #wrapped = new WeakMap<ZkWatcher, (event: ZkEvent) => void>();
}

function stateName(zk: ZkModule, state: State): ZkConnectionState | undefined {
  if (state === zk.State.SYNC_CONNECTED) return "connected";
  if (state === zk.State.DISCONNECTED) return "disconnected";
  if (state === zk.State.EXPIRED) return "expired";
  if (state === zk.State.AUTH_FAILED) return "authFailed";
  return undefined;
}

function statOf(stat: Stat): ZkStat {
  return { version: stat.version, owner: stat.ephemeralOwner.toString("hex") };
}
