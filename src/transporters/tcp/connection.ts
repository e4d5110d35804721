import type { Socket } from "node:net";
import type { Logger } from "../../observability/logger.js";
import { encodePing, type Frame, FrameDecoder, type Hello } from "./frames.js";

/**
 * Where a connection is in the handshake (see `mesh.ts`):
 * - `greeting`: we dialed and wait for the other side's HELLO;
 * - `hello-sent`: we dialed, sent our HELLO, and wait for ACK;
 * - `awaiting-hello`: they dialed; we greeted and wait for their HELLO;
 * - `parked`: they dialed while our own dial to them is pending and wins; kept as a fallback;
 * - `open`: the session of the pair; MSG frames flow both ways;
 * - `closed`.
 */
export type ConnectionState =
  | "greeting"
  | "hello-sent"
  | "awaiting-hello"
  | "parked"
  | "open"
  | "closed";

/** Longest a publish waits for one peer's buffer to drain (see {@link Connection.drained}). */
export const DRAIN_WAIT = 1000;

/** What a connection reports to its owner. */
export interface ConnectionHandler {
  frame(conn: Connection, frame: Frame): void;
  closed(conn: Connection): void;
}

/** Limits of one connection. */
export interface ConnectionLimits {
  maxFrameLength: number;
  /** Queued bytes past which the peer counts as dead. */
  maxBufferedBytes: number;
  /** A connection not open (or parked) by then is dropped. */
  handshakeTimeout: number;
}

/**
 * One socket to a peer: frames in (through a {@link FrameDecoder}), frames out batched per tick
 * (cork, then uncork on the next tick, so a burst of small frames is one `writev`). Any error,
 * bad frame or handler failure drops this connection and nothing else.
 */
export class Connection {
  state: ConnectionState;
  /** The peer's HELLO, once received. */
  remote: Hello | undefined;
  /** Topics the peer subscribed to (HELLO, then SUB frames). */
  readonly remoteSubs = new Set<string>();
  /** Our HELLO went out on it, so SUB frames must follow there too. */
  introduced = false;
  /** Closed on purpose (duplicate or lost tie-break): not a failure to retry. */
  abandoned = false;
  /** The peer this connection is filed under (expected when dialed, else from its HELLO). */
  peerID: string | undefined;
  readonly label: string;
  private readonly decoder: FrameDecoder;
  private corked = false;
  private drain: Promise<void> | undefined;
  private stalled = false;
  private readonly pings = new Map<number, () => void>();
  private nextPing = 1;
  private readonly handshakeTimer: NodeJS.Timeout;
  private reportedClose = false;

  constructor(
    readonly socket: Socket,
    readonly outbound: boolean,
    private readonly limits: ConnectionLimits,
    private readonly handler: ConnectionHandler,
    private readonly logger: Logger,
    target?: string,
  ) {
    this.state = outbound ? "greeting" : "awaiting-hello";
    this.label = target ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.decoder = new FrameDecoder(limits.maxFrameLength);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.logger.debug({ err, peer: this.label }, "socket error"));
    socket.on("close", () => this.onClose());
    socket.on("drain", () => {
      this.stalled = false;
    });
    this.handshakeTimer = setTimeout(() => {
      if (this.state === "open" || this.state === "parked" || this.state === "closed") return;
      this.logger.debug({ peer: this.label, state: this.state }, "handshake timed out");
      this.destroy();
    }, limits.handshakeTimeout);
    this.handshakeTimer.unref();
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  /**
   * Queues a frame (and its payload, written without a copy). Returns `false` when the socket's
   * buffer is over its high-water mark: the caller may wait for {@link drained}.
   */
  send(frame: Uint8Array, payload?: Uint8Array): boolean {
    const socket = this.socket;
    if (this.state === "closed" || socket.destroyed || !socket.writable) return true;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    let ok = socket.write(frame);
    if (payload !== undefined && payload.length > 0) ok = socket.write(payload);
    // A peer that stops reading must not make us hold its backlog without bound.
    if (socket.writableLength > this.limits.maxBufferedBytes) {
      this.logger.warn(
        { peer: this.label, queued: socket.writableLength },
        "peer is not reading; dropping the connection",
      );
      this.destroy();
      return true;
    }
    return ok;
  }

  /**
   * Resolves when the socket's buffer has drained, the socket closed, or {@link DRAIN_WAIT} ms
   * passed. A peer that has not drained in that time counts as stalled and is not waited for
   * again until it drains: a dead peer must not hold up a publisher, and the
   * `maxBufferedBytes` cap in {@link send} bounds what it costs meanwhile.
   */
  drained(): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || !socket.writableNeedDrain || this.stalled) return Promise.resolve();
    // One shared promise per drain cycle, so a thousand waiting publishes add two listeners.
    this.drain ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.stalled = true;
        done();
      }, DRAIN_WAIT);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        socket.off("drain", done);
        socket.off("close", done);
        this.drain = undefined;
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
    return this.drain;
  }

  /** Sends a PING; resolves on its PONG, on close, or after `timeout` ms, whichever is first. */
  ping(timeout: number): Promise<void> {
    const id = this.nextPing;
    this.nextPing = (this.nextPing % 0xffffffff) + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        this.logger.debug({ peer: this.label }, "no PONG in time");
        resolve();
      }, timeout);
      timer.unref();
      this.pings.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.send(encodePing(id));
    });
  }

  /** Settles the PING with this id. */
  pong(id: number): void {
    this.pings.get(id)?.();
    this.pings.delete(id);
  }

  /** Flushes what is queued, then closes; destroyed anyway if the peer does not close in time. */
  end(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.state = "closed";
    this.socket.destroy();
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    if (this.reportedClose) return Promise.resolve();
    return new Promise((resolve) => this.socket.once("close", () => resolve()));
  }

  private onData(chunk: Buffer): void {
    if (this.state === "closed") return;
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (this.closed) return; // an earlier frame of this chunk ended the connection
        this.handler.frame(this, frame);
      }
    } catch (err) {
      // A malformed or oversized frame (or a bug in handling one) costs this connection only.
      this.logger.warn({ err, peer: this.label }, "bad frame from peer; dropping the connection");
      this.destroy();
    }
  }

  private onClose(): void {
    if (this.reportedClose) return;
    this.reportedClose = true;
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    for (const settle of this.pings.values()) settle();
    this.pings.clear();
    this.handler.closed(this);
  }
}
