import type { Socket } from "node:net";
import type { Logger } from "../../observability/logger.js";
import type { TransporterContext } from "../transporter.js";
import { Connection, type ConnectionLimits } from "./connection.js";
import {
  BYE_FRAME,
  encodeAck,
  encodeDeny,
  encodeHello,
  encodeMsgHeader,
  encodePong,
  encodeSub,
  type Frame,
  type Hello,
} from "./frames.js";
import {
  type DialOwner,
  dialOwners,
  onAck,
  onDialLost,
  onGreeting,
  onHello,
  type Peer,
  proofParts,
  type SessionHost,
  WarnOncePer,
} from "./handshake.js";
import { type Address, backoff } from "./options.js";

/**
 * The peer-to-peer mesh: one TCP connection per pair of nodes (settled by `handshake.ts`),
 * messages both ways on it. Owns every connection, routes frames, and tells transit when a
 * peer's session opens (`onPeerUp`) or ends (`onPeerDown`).
 */
export class Mesh {
  private readonly peers = new Map<string, Peer>();
  private readonly conns = new Set<Connection>();
  private closing = false;
  private settleWaiters: (() => void)[] = [];
  /** Called when a session ends (after `onPeerDown` is queued). */
  onSessionDown: ((nodeID: string) => void) | undefined;
  private readonly host: SessionHost;
  private readonly refusals = new WarnOncePer();

  constructor(
    private readonly self: Omit<Hello, "subs" | "v">,
    private readonly subs: ReadonlySet<string>,
    private readonly context: TransporterContext,
    private readonly limits: ConnectionLimits,
    private readonly logger: Logger,
    /** Opens a socket to a peer: plain TCP, or TLS. */
    private readonly connectSocket: (address: Address) => Socket,
  ) {
    this.host = {
      self,
      logger,
      auth: context.auth,
      refuse: (conn, nodeID, why, tell) => this.refuse(conn, nodeID, why, tell),
      peer: (nodeID) => this.peer(nodeID),
      introduce: (conn) => this.introduce(conn),
      open: (peer, conn, sendAck) => this.open(peer, conn, sendAck),
      endSession: (peer, reason) => this.endSession(peer, reason),
    };
  }

  /** This node's ID. */
  get nodeID(): string {
    return this.self.nodeID;
  }

  /** NodeIDs with an open session. */
  get sessions(): string[] {
    return [...this.peers.values()].filter((p) => p.session).map((p) => p.nodeID);
  }

  hasSession(nodeID: string): boolean {
    return this.peers.get(nodeID)?.session !== undefined;
  }

  /** A socket a peer opened to us. */
  accept(socket: Socket): void {
    if (this.closing) return void socket.destroy();
    const conn = this.track(new Connection(socket, false, this.limits, this, this.logger));
    this.introduce(conn);
  }

  /** Discovery found `nodeID` at `address`: dial it unless we already talk or recently failed. */
  discovered(nodeID: string, address: Address): void {
    if (this.closing || nodeID === this.self.nodeID) return;
    const peer = this.peer(nodeID);
    if (peer.session || peer.dial) return;
    const moved = peer.address?.host !== address.host || peer.address?.port !== address.port;
    if (!moved && Date.now() < peer.retryAt) return;
    peer.address = address;
    this.dial(address, {
      expected: nodeID,
      failed: () => {
        peer.failures += 1;
        peer.retryAt = Date.now() + backoff(peer.failures);
      },
    });
  }

  /** Opens a connection to `address`; the greeting decides what becomes of it. */
  dial(address: Address, owner: DialOwner): void {
    if (this.closing) return;
    const socket = this.connectSocket(address);
    const label = `${address.host}:${address.port}`;
    const conn = new Connection(socket, true, this.limits, this, this.logger, label);
    this.track(conn);
    dialOwners.set(conn, owner);
    if (owner.expected !== undefined) {
      conn.peerID = owner.expected;
      this.peer(owner.expected).dial = conn;
    }
  }

  /** Sends MSG to every peer subscribed to `topic`; resolves when their buffers have room. */
  publish(topic: string, data: Uint8Array): Promise<void> {
    let header: Buffer | undefined;
    const waits: Promise<void>[] = [];
    for (const peer of this.peers.values()) {
      const conn = peer.session;
      if (conn === undefined || !conn.remoteSubs.has(topic)) continue;
      header ??= encodeMsgHeader(topic, data.length);
      if (!conn.send(header, data)) waits.push(conn.drained());
    }
    return waits.length > 0 ? Promise.all(waits).then(() => undefined) : Promise.resolve();
  }

  /**
   * Tells every peer about a new subscription and waits until each peer that knows us has read
   * it (PING after the SUB; the PONG comes back after it): from then on their publishes reach us.
   */
  announceSubscription(topic: string, timeout: number): Promise<void> {
    const sub = encodeSub(topic);
    const waits: Promise<void>[] = [];
    for (const conn of this.conns) {
      if (!conn.introduced || conn.state === "closed") continue;
      conn.send(sub);
      if (conn.remote !== undefined) waits.push(conn.ping(timeout));
    }
    return Promise.all(waits).then(() => undefined);
  }

  /** Resolves when none of our dials is still in its handshake. */
  settled(): Promise<void> {
    if (!this.dialing()) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /** Closes everything: gracefully (BYE, then flush) or abruptly, as a crash would. */
  async close(graceful: boolean): Promise<void> {
    this.closing = true;
    const conns = [...this.conns];
    for (const conn of conns) {
      if (graceful && conn.state === "open") {
        conn.send(BYE_FRAME);
        conn.end();
      } else conn.destroy();
    }
    await Promise.all(conns.map((c) => c.whenClosed()));
  }

  frame(conn: Connection, frame: Frame): void {
    if (frame.type === "deny") {
      const key = `deny:${conn.socket.remoteAddress}:${frame.reason}`;
      const level = this.refusals.first(key) ? "warn" : "debug";
      this.logger[level](
        { peer: conn.label, nodeID: conn.remote?.nodeID ?? conn.peerID },
        `a peer refused us: ${frame.reason}`,
      );
      conn.destroy();
      return;
    }
    if (conn.remote === undefined) {
      if (frame.type !== "hello") throw new Error(`expected HELLO first, got ${frame.type}`);
      if (conn.outbound) onGreeting(this.host, conn, frame.hello);
      else onHello(this.host, conn, frame.hello);
      return;
    }
    switch (frame.type) {
      case "hello":
        throw new Error("second HELLO on a connection");
      case "ack":
        if (!conn.outbound || conn.state !== "hello-sent") throw new Error("unexpected ACK");
        onAck(this.host, this.peers.get(conn.peerID ?? ""), conn, frame.proof);
        break;
      case "sub":
        conn.remoteSubs.add(frame.topic);
        break;
      case "ping":
        conn.send(encodePong(frame.id));
        break;
      case "pong":
        conn.pong(frame.id);
        break;
      case "msg":
        // The session's peer proved who it is: transit believes no other sender on it.
        if (conn.state === "open") this.deliver(frame.topic, frame.data, conn.peerID);
        break;
      case "bye":
        this.onBye(conn);
        break;
    }
  }

  closed(conn: Connection): void {
    this.conns.delete(conn);
    const peer = conn.peerID === undefined ? undefined : this.peers.get(conn.peerID);
    if (peer?.session === conn) this.endSession(peer, "connection closed");
    else if (peer?.dial === conn) {
      if (this.closing) peer.dial = undefined;
      else onDialLost(this.host, peer);
    } else if (peer?.parked === conn) peer.parked = undefined;
    // Only dials that never opened are still in `dialOwners`.
    if (!conn.abandoned) dialOwners.get(conn)?.failed?.();
    // Forget a node we have nothing with, unless we are backing off from it; nodeIDs come and go.
    const idle = peer && !peer.session && !peer.dial && !peer.parked && peer.failures === 0;
    if (idle) this.peers.delete(peer.nodeID);
    this.checkSettled();
  }

  /** Ends the session with `nodeID` (transit: too many bad packets from it). It may dial again. */
  drop(nodeID: string): void {
    const peer = this.peers.get(nodeID);
    if (peer !== undefined) this.endSession(peer, "dropped for bad packets");
  }

  /** Hands a message from `from` to transit, if this node subscribed to its topic. */
  deliver(topic: string, data: Uint8Array, from: string | undefined): void {
    if (!this.subs.has(topic)) return;
    try {
      this.context.onMessage(topic, data, from);
    } catch (err) {
      this.logger.error({ err, topic }, "onMessage threw; message dropped");
    }
  }

  private onBye(conn: Connection): void {
    const peer = this.peers.get(conn.peerID ?? "");
    if (peer?.session === conn) this.endSession(peer, "peer left");
    else conn.destroy();
  }

  private open(peer: Peer, conn: Connection, sendAck: boolean): void {
    if (sendAck) {
      const { auth, self } = this.host;
      const parts = () =>
        proofParts(
          "acceptor",
          self.namespace,
          self.nodeID,
          peer.nodeID,
          conn.nonce,
          conn.remote?.nonce,
        );
      conn.send(encodeAck(auth?.mac(...parts())));
    }
    dialOwners.delete(conn);
    conn.open();
    peer.session = conn;
    peer.failures = 0;
    peer.retryAt = 0;
    this.logger.debug({ peer: peer.nodeID, via: conn.label }, "peer connected");
    // Queued after any `onPeerDown` of a session this one replaces, so transit sees down, then up.
    queueMicrotask(() => !this.closing && this.context.onPeerUp?.(peer.nodeID));
    this.checkSettled();
  }

  private endSession(peer: Peer, reason: string): void {
    const conn = peer.session;
    if (conn === undefined) return;
    peer.session = undefined;
    conn.destroy();
    if (this.closing) return;
    this.logger.debug({ peer: peer.nodeID, reason }, "peer down");
    // Asynchronous, so transit never hears of it in the middle of its own publish call.
    queueMicrotask(() => this.context.onPeerDown?.(peer.nodeID));
    this.onSessionDown?.(peer.nodeID);
  }

  /** Our HELLO: a greeting (acceptor), or the dialer's answer with its proof of the secret. */
  private introduce(conn: Connection): void {
    const { auth } = this.host;
    const hello: Hello = { v: 1, ...this.self, subs: [...this.subs], nonce: conn.nonce };
    if (auth !== undefined) hello.auth = true;
    const greeting = conn.remote;
    if (auth !== undefined && conn.outbound && greeting !== undefined) {
      const { namespace, nodeID } = this.self;
      const parts = proofParts(
        "dialer",
        namespace,
        greeting.nodeID,
        nodeID,
        greeting.nonce,
        conn.nonce,
      );
      hello.proof = auth.mac(...parts).toString("base64");
    }
    conn.send(encodeHello(hello));
    conn.introduced = true;
  }

  /** Refuses a peer in the handshake: one warning (per kind and address, a minute), DENY, close. */
  private refuse(conn: Connection, nodeID: string, why: string, tell: string): void {
    const key = `${why}:${conn.socket.remoteAddress}`;
    const level = this.refusals.first(key) ? "warn" : "debug";
    this.logger[level]({ peer: conn.label, nodeID }, `refusing a peer: ${why}`);
    conn.send(encodeDeny(tell));
    conn.end();
  }

  private track(conn: Connection): Connection {
    this.conns.add(conn);
    return conn;
  }

  private peer(nodeID: string): Peer {
    let peer = this.peers.get(nodeID);
    if (peer === undefined) {
      peer = { nodeID, failures: 0, retryAt: 0 };
      this.peers.set(nodeID, peer);
    }
    return peer;
  }

  private dialing(): boolean {
    for (const c of this.conns) if (c.state === "greeting" || c.state === "hello-sent") return true;
    return false;
  }

  private checkSettled(): void {
    if (this.settleWaiters.length === 0 || this.dialing()) return;
    for (const resolve of this.settleWaiters.splice(0)) resolve();
  }
}
