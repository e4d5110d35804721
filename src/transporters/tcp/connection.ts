import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { LogLimiter } from "../../observability/log-limiter.js";
import type { Logger } from "../../observability/logger.js";
import { FLUSH_EVERY } from "../batching.js";
import { encodePing, type Frame, FrameDecoder, FrameError, type Hello } from "./frames.js";

/** One limiter per transporter's logger: bad frames cost a line per address and minute. */
const limiters = new WeakMap<Logger, LogLimiter>();
function limiter(logger: Logger): LogLimiter {
  let found = limiters.get(logger);
  if (found === undefined) {
    found = new LogLimiter(logger);
    limiters.set(logger, found);
  }
  return found;
}

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
  /** An open session that receives nothing for this long is dropped (0: never). */
  idleTimeout: number;
  /**
   * What every connection still in its handshake may hold of partial frames, together: a
   * stranger's bytes cost at most this, however many sockets they open.
   */
  preHandshake: PreHandshakeBudget;
}

/** The bytes held by connections in their handshake, shared by one listener's connections. */
export interface PreHandshakeBudget {
  /** The largest frame before the handshake (a HELLO with its subscriptions). */
  readonly maxFrameLength: number;
  /** Bytes held now, by all of them. */
  used: number;
  readonly limit: number;
}

/** A budget for the connections of one transporter. */
export function preHandshakeBudget(maxFrameLength: number): PreHandshakeBudget {
  const frame = Math.min(PRE_HANDSHAKE_FRAME, maxFrameLength);
  return { maxFrameLength: frame, used: 0, limit: Math.max(PRE_HANDSHAKE_TOTAL, 2 * frame) };
}

/** Largest frame before the handshake: a HELLO lists the sender's subscriptions. */
const PRE_HANDSHAKE_FRAME = 256 * 1024;
/** What all connections in their handshake may hold together. */
const PRE_HANDSHAKE_TOTAL = 4 * 1024 * 1024;

/**
 * One socket to a peer: frames in (through a {@link FrameDecoder}), frames out batched (cork,
 * then uncork on the next tick or after {@link FLUSH_EVERY} frames, so a burst of small frames
 * is a few `writev`s). Any error,
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
  /** Fresh per connection: the peer's proof of the cluster secret must cover it. */
  readonly nonce = randomBytes(18).toString("base64");
  readonly label: string;
  private readonly decoder: FrameDecoder;
  private corked = false;
  /** Frames written since the socket was corked. */
  private queued = 0;
  private drain: Promise<void> | undefined;
  private stalled = false;
  private readonly pings = new Map<number, () => void>();
  private nextPing = 1;
  private readonly handshakeTimer: NodeJS.Timeout;
  private reportedClose = false;
  /** Partial-frame bytes counted against the pre-handshake budget. */
  private counted = 0;

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
    // Until the handshake is done a frame may be no larger than a HELLO needs.
    this.decoder = new FrameDecoder(limits.preHandshake.maxFrameLength);
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

  /** The handshake is done: frames up to the full limit, and an idle session is dropped. */
  open(): void {
    this.state = "open";
    clearTimeout(this.handshakeTimer);
    this.release();
    this.decoder.setLimit(this.limits.maxFrameLength);
    if (this.limits.idleTimeout > 0) {
      // Heartbeats cross every session each second or so; silence this long means a dead peer
      // (or a stranger holding a socket).
      this.socket.setTimeout(this.limits.idleTimeout, () => {
        this.logger.debug({ peer: this.label }, "session idle; dropping the connection");
        this.destroy();
      });
    }
  }

  /** Gives the bytes this connection held back to the pre-handshake budget. */
  private release(): void {
    this.limits.preHandshake.used -= this.counted;
    this.counted = 0;
  }

  /** Counts what the decoder holds while in the handshake; false when over the shared budget. */
  private withinBudget(): boolean {
    if (this.state === "open") return true;
    const budget = this.limits.preHandshake;
    const held = this.decoder.held;
    budget.used += held - this.counted;
    this.counted = held;
    return budget.used <= budget.limit;
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
        this.queued = 0;
        socket.uncork();
      });
    }
    let ok = socket.write(frame);
    if (payload !== undefined && payload.length > 0) ok = socket.write(payload);
    if (++this.queued >= FLUSH_EVERY) {
      this.queued = 0;
      socket.uncork();
      socket.cork();
    }
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
      if (!this.closed && !this.withinBudget()) {
        const key = `budget:${this.socket.remoteAddress ?? "?"}`;
        const fields = { peer: this.label, held: this.counted };
        limiter(this.logger).warn(key, fields, "too many bytes held before handshakes; dropping");
        this.destroy();
      }
    } catch (err) {
      // A malformed or oversized frame (or a bug in handling one) costs this connection only,
      // and a few log lines per address however many connections bring them (no stack for a
      // stranger's bytes: the reason says it all).
      const fields =
        err instanceof FrameError
          ? { peer: this.label, reason: err.message.slice(0, 200) }
          : { err, peer: this.label };
      const key = `bad-frame:${this.socket.remoteAddress ?? "?"}`;
      limiter(this.logger).warn(key, fields, "bad frame from peer; dropping the connection");
      this.destroy();
    }
  }

  private onClose(): void {
    if (this.reportedClose) return;
    this.reportedClose = true;
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    this.release();
    for (const settle of this.pings.values()) settle();
    this.pings.clear();
    this.handler.closed(this);
  }
}
