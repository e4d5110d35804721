import type { Logger } from "../../observability/logger.js";
import type { ClusterAuth } from "../transporter.js";
import type { Connection } from "./connection.js";
import type { Hello } from "./frames.js";
import type { Address } from "./options.js";

/**
 * How two nodes settle on one connection (the pair's *session*):
 *
 * 1. The acceptor greets at once with its HELLO, so a dialer learns who listens before committing.
 * 2. The dialer answers with its own HELLO only if it has neither a session nor another pending
 *    dial with that node; otherwise it just closes the connection.
 * 3. The acceptor opens the session and says so with ACK; the dialer opens it on the ACK.
 *
 * Crossed dials (both sides reach step 2 at once): the dial of the smaller nodeID wins on both
 * sides. The larger node accepts it and drops its own; the smaller *parks* the loser's connection
 * until its own dial opens (then closes it) or fails (then accepts it instead). No message is ever
 * sent on a connection the other side will throw away. A HELLO from a node that already has a
 * session means that node gave the old one up (it restarted, or lost it): the old session ends
 * (`onPeerDown`) and the new one replaces it.
 *
 * With a cluster secret (`auth`), a greeting says so (`auth: true`) and each side proves the
 * secret before the other opens the session: the dialer in its HELLO, the acceptor in its ACK,
 * each an HMAC of its role, the namespace, both nodeIDs and both connections' fresh nonces (see
 * {@link proof}), so a proof is good for this one connection only and neither side's can be
 * replayed or reflected. A side that refuses says why in one log line and a DENY frame (the other
 * side logs it), then closes: no MSG frame is ever read or sent before the session opens.
 */

/** Who dialed, and what to tell it. */
export interface DialOwner {
  /** The nodeID discovery promised at this address; another node there is a stale entry. */
  readonly expected?: string;
  /** The dial closed before its session opened (refused, timed out, wrong node...). */
  failed?(): void;
  /** The greeting told who listens there. */
  identified?(nodeID: string): void;
  /** The address turned out to be this very node (a seed list that names every node). */
  isSelf?(): void;
}

/** The owner of each dial until it opens (`Connection` itself knows nothing of dialing). */
export const dialOwners = new WeakMap<Connection, DialOwner>();

/** What this node knows of one other node. */
export interface Peer {
  readonly nodeID: string;
  /** The pair's one open connection. */
  session?: Connection;
  /** Our dial to the peer, before it opens. */
  dial?: Connection;
  /** The peer's dial, held while ours is pending and wins the tie-break. */
  parked?: Connection;
  /** Where we last dialed it, and when discovery may dial it again after failures. */
  address?: Address;
  failures: number;
  retryAt: number;
}

/** What the handshake needs from the mesh. */
export interface SessionHost {
  readonly self: Omit<Hello, "subs" | "v">;
  readonly logger: Logger;
  /** The cluster's proof of membership; absent when this node has no secret. */
  readonly auth: ClusterAuth | undefined;
  /** Logs `why` (once in a while per kind and address), tells the peer `tell`, and closes. */
  refuse(conn: Connection, nodeID: string, why: string, tell: string): void;
  peer(nodeID: string): Peer;
  introduce(conn: Connection): void;
  open(peer: Peer, conn: Connection, sendAck: boolean): void;
  endSession(peer: Peer, reason: string): void;
}

/** Step 2, on the dialer: the acceptor's greeting arrived. */
export function onGreeting(host: SessionHost, conn: Connection, hello: Hello): void {
  const owner = dialOwners.get(conn);
  if (hello.namespace === host.self.namespace) {
    if (hello.nodeID === host.self.nodeID) owner?.isSelf?.();
    else owner?.identified?.(hello.nodeID);
  }
  if (!acceptable(host, conn, hello)) return;
  if (owner?.expected !== undefined && owner.expected !== hello.nodeID) {
    host.logger.debug({ peer: conn.label, found: hello.nodeID }, "stale address: another node");
    conn.destroy();
    return;
  }
  if (!greetingAcceptable(host, conn, hello)) return;
  remember(conn, hello);
  const peer = host.peer(hello.nodeID);
  if (peer.session || (peer.dial !== conn && peer.dial?.state === "hello-sent")) {
    conn.abandoned = true; // we already talk to it (or are about to): not a failure
    conn.destroy();
    return;
  }
  if (peer.dial !== undefined && peer.dial !== conn) {
    peer.dial.abandoned = true;
    peer.dial.destroy();
  }
  peer.dial = conn;
  host.introduce(conn);
  conn.state = "hello-sent";
}

/** Step 3, on the acceptor: the dialer's HELLO arrived. */
export function onHello(host: SessionHost, conn: Connection, hello: Hello): void {
  if (!acceptable(host, conn, hello)) return;
  if (host.auth !== undefined) {
    const { auth, self } = host;
    const valid =
      hello.proof !== undefined &&
      hello.nonce !== undefined &&
      auth.verify(
        Buffer.from(hello.proof, "base64"),
        ...proofParts("dialer", self.namespace, self.nodeID, hello.nodeID, conn.nonce, hello.nonce),
      );
    if (!valid) {
      const none = hello.proof === undefined;
      host.refuse(
        conn,
        hello.nodeID,
        none ? "it has no cluster secret" : "its proof of the cluster secret is wrong",
        none ? "this node requires the cluster secret" : "wrong cluster secret",
      );
      return;
    }
  }
  remember(conn, hello);
  const peer = host.peer(hello.nodeID);
  peer.parked?.destroy();
  peer.parked = undefined;
  if (peer.dial?.state === "hello-sent") {
    const ours = host.self.nodeID < hello.nodeID;
    host.logger.debug({ peer: hello.nodeID, winner: ours ? "ours" : "theirs" }, "crossed dials");
    if (ours) {
      conn.state = "parked"; // theirs waits in case ours fails
      peer.parked = conn;
      return;
    }
    peer.dial.abandoned = true;
    peer.dial.destroy();
    peer.dial = undefined;
  }
  if (peer.session) host.endSession(peer, "replaced by a new connection from the same node");
  host.open(peer, conn, true);
}

/** Step 3, on the dialer: the ACK arrived. */
export function onAck(
  host: SessionHost,
  peer: Peer | undefined,
  conn: Connection,
  ackProof: Uint8Array | undefined,
): void {
  if (peer?.dial !== conn) {
    conn.destroy();
    return;
  }
  const { auth, self } = host;
  const nonce = conn.remote?.nonce;
  if (auth !== undefined) {
    const parts = proofParts(
      "acceptor",
      self.namespace,
      peer.nodeID,
      self.nodeID,
      nonce,
      conn.nonce,
    );
    if (ackProof === undefined || nonce === undefined || !auth.verify(ackProof, ...parts)) {
      host.refuse(
        conn,
        peer.nodeID,
        "its proof of the cluster secret is wrong",
        "wrong cluster secret",
      );
      return;
    }
  }
  peer.dial = undefined;
  if (peer.session) host.endSession(peer, "replaced");
  host.open(peer, conn, false);
  peer.parked?.destroy();
  peer.parked = undefined;
}

/** Our dial closed before opening: the peer's dial, if we parked it, becomes the session. */
export function onDialLost(host: SessionHost, peer: Peer): void {
  peer.dial = undefined;
  const parked = peer.parked;
  peer.parked = undefined;
  if (parked?.state === "parked") host.open(peer, parked, true);
}

function acceptable(host: SessionHost, conn: Connection, hello: Hello): boolean {
  const foreign = hello.namespace !== host.self.namespace;
  if (!foreign && hello.nodeID !== host.self.nodeID) return true;
  const problem = foreign ? `namespace '${hello.namespace}'` : "our own nodeID";
  // Another namespace is a misconfiguration worth seeing; our own echo is routine with seeds.
  host.logger[foreign ? "warn" : "debug"](
    { peer: conn.label, nodeID: hello.nodeID },
    `refusing a peer: ${problem}`,
  );
  conn.destroy();
  return false;
}

/** On the dialer: whether the greeting's side of the secret matches ours (both or neither). */
function greetingAcceptable(host: SessionHost, conn: Connection, hello: Hello): boolean {
  const ours = host.auth !== undefined;
  const theirs = hello.auth === true && hello.nonce !== undefined;
  if (ours === theirs) return true;
  if (ours) {
    host.refuse(
      conn,
      hello.nodeID,
      "it has no cluster secret",
      "this node requires the cluster secret",
    );
  } else {
    host.refuse(
      conn,
      hello.nodeID,
      "it requires a cluster secret and this node has none (set security.secret or FLOTILLA_SECRET)",
      "this node has no cluster secret",
    );
  }
  return false;
}

/**
 * What a proof covers: who proves (`dialer` or `acceptor`), the namespace, both nodeIDs and both
 * nonces, the acceptor's first. The roles differ, so the dialer's proof is never a valid ACK.
 *
 * @example
 * ```ts
 * auth.mac(...proofParts("dialer", "shop", "n1", "n2", acceptorNonce, dialerNonce));
 * ```
 */
export function proofParts(
  role: "dialer" | "acceptor",
  namespace: string,
  acceptor: string,
  dialer: string,
  acceptorNonce: string | undefined,
  dialerNonce: string | undefined,
): string[] {
  return [
    `flotilla-tcp-${role}`,
    namespace,
    acceptor,
    dialer,
    acceptorNonce ?? "",
    dialerNonce ?? "",
  ];
}

/**
 * Whether a refusal is worth a warning: the first per key in `interval` ms is; the rest are
 * debug, so a peer that keeps knocking (or a stranger that keeps trying) costs one line a minute.
 */
export class WarnOncePer {
  readonly #seen = new Map<string, number>();

  constructor(private readonly interval = 60_000) {}

  first(key: string): boolean {
    const now = Date.now();
    const last = this.#seen.get(key);
    if (last !== undefined && now - last < this.interval) return false;
    if (this.#seen.size >= 1000) this.#seen.clear();
    this.#seen.set(key, now);
    return true;
  }
}

function remember(conn: Connection, hello: Hello): void {
  conn.remote = hello;
  conn.peerID = hello.nodeID;
  for (const topic of hello.subs) conn.remoteSubs.add(topic);
}
