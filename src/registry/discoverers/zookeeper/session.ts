import type { Logger } from "../../../observability/logger.js";
import {
  type loadZooKeeperClient,
  ZkConnection,
  type ZkConnectionSettings,
  type ZkConnectionState,
} from "./client.js";

type ZkModule = Awaited<ReturnType<typeof loadZooKeeperClient>>;

/** What the keeper tells its owner. */
export interface SessionListener {
  /**
   * The connection is up. `fresh`: a new session (the first, or one after an expiry), which owns
   * nothing yet: register again. Otherwise the same session is back after a disconnect: its
   * ephemeral znodes are still there, but what changed meanwhile must be read again.
   */
  up(connection: ZkConnection, fresh: boolean): void;
  /** The connection dropped. The session may live on (the server keeps it for its timeout). */
  down(): void;
}

/**
 * Keeps one ZooKeeper session alive for as long as it is wanted: the client dials again by itself
 * after a disconnect; when the server says the session expired, or the servers stayed out of
 * reach for longer than the session timeout, or they refuse the credentials, the keeper makes a
 * new client, hence a new session. It also proves the link every third of the
 * session timeout, and drops a link that stays silent for two thirds of it, as ZooKeeper's own
 * clients do: the server expires a session it does not hear from, and a client that does not
 * notice would go on believing it is registered.
 */
export class SessionKeeper {
  #connection: ZkConnection | undefined;
  #fresh = true;
  #over = false;
  /** No session after the current one (the broker is stopping). */
  #last = false;
  #probe: NodeJS.Timeout | undefined;
  /** Gives the session up after a disconnect as long as its timeout. */
  #gone: NodeJS.Timeout | undefined;
  /** When the unanswered probe was sent, or `undefined` when none is out. */
  #probeSentAt: number | undefined;

  constructor(
    private readonly zk: ZkModule,
    private readonly settings: ZkConnectionSettings,
    private readonly logger: Logger,
    private readonly listener: SessionListener,
  ) {}

  /** The connection, when it is up. */
  get connection(): ZkConnection | undefined {
    return this.#connection?.connected === true ? this.#connection : undefined;
  }

  /** Opens the first session; the client keeps dialling until a server answers. */
  open(): void {
    this.#connect();
  }

  /** Keeps the current session, but opens none after it. */
  noNewSessions(): void {
    this.#last = true;
  }

  /** Ends the session (its ephemeral znodes go) and stops. */
  async close(timeout: number): Promise<void> {
    this.#stop();
    await this.#connection?.close(timeout);
  }

  /** Stops as a crash would: the session is left to expire on the server. */
  abandon(): void {
    this.#stop();
    this.#connection?.abandon();
  }

  #stop(): void {
    this.#over = true;
    clearInterval(this.#probe);
    clearTimeout(this.#gone);
  }

  #connect(): void {
    this.#fresh = true;
    const connection = new ZkConnection(this.zk, this.settings, (state) =>
      this.#changed(connection, state),
    );
    this.#connection = connection;
  }

  #changed(connection: ZkConnection, state: ZkConnectionState): void {
    if (this.#over || connection !== this.#connection) return;
    this.logger.debug({ state, hosts: this.settings.hosts }, `ZooKeeper connection ${state}`);
    clearInterval(this.#probe);
    clearTimeout(this.#gone);
    switch (state) {
      case "connected": {
        const fresh = this.#fresh;
        this.#fresh = false;
        this.#watchLink(connection);
        this.listener.up(connection, fresh);
        return;
      }
      case "disconnected": {
        this.listener.down();
        // The server ends a session it has not heard from for the session timeout, and a client
        // learns so only from a server that still knows the session: one that lost it (a wiped
        // ensemble) refuses the client's reconnect forever, since the client has seen newer
        // transactions than it has. So past that timeout the session is given up here too.
        const timeout = connection.sessionTimeout;
        this.#gone = setTimeout(() => {
          if (connection.connected || connection !== this.#connection) return;
          this.#renew(connection, "ZooKeeper unreachable for longer than the session timeout");
        }, timeout);
        this.#gone.unref();
        return;
      }
      case "expired":
        this.listener.down();
        this.#renew(connection, "ZooKeeper session expired");
        return;
      case "authFailed":
        this.listener.down();
        this.logger.error(
          { hosts: this.settings.hosts },
          "ZooKeeper refused the credentials of the discovery URL: trying again",
        );
        connection.abandon();
        this.#later(this.settings.sessionTimeout);
        return;
    }
  }

  /** Replaces a session that is over with a new one (which registers this node again). */
  #renew(connection: ZkConnection, why: string): void {
    if (this.#last) return;
    this.logger.warn({ hosts: this.settings.hosts }, `${why}: opening a new session`);
    connection.abandon();
    this.#connect();
  }

  #later(delay: number): void {
    const timer = setTimeout(() => {
      if (!this.#over && !this.#last) this.#connect();
    }, delay);
    timer.unref();
  }

  /** Proves the link every third of the session timeout; drops it when a proof goes unanswered. */
  #watchLink(connection: ZkConnection): void {
    clearInterval(this.#probe);
    this.#probeSentAt = undefined;
    const timeout = connection.sessionTimeout;
    this.#probe = setInterval(() => {
      if (!connection.connected) return;
      const sentAt = this.#probeSentAt;
      if (sentAt === undefined) {
        const at = Date.now();
        this.#probeSentAt = at;
        const answered = () => {
          if (this.#probeSentAt === at) this.#probeSentAt = undefined;
        };
        connection.exists("/").then(answered, answered);
      } else if (Date.now() - sentAt >= (timeout * 2) / 3) {
        this.logger.warn(
          { hosts: this.settings.hosts },
          "ZooKeeper stopped answering: dropping the connection to dial again",
        );
        this.#probeSentAt = undefined;
        connection.redial();
      }
    }, timeout / 3);
    this.#probe.unref();
  }
}
