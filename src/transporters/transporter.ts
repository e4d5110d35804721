import type { Logger } from "../observability/logger.js";
import type { DurableStreams } from "./durable.js";

/** What a transporter can do beyond moving bytes; transit reads these flags, never `instanceof`. */
export interface TransporterCapabilities {
  /** The server hands a message on a grouped subscription to one member of the group. */
  readonly balancing: boolean;
  /** The server can persist messages: durable events (`durableStreams`) are available. */
  readonly durable: boolean;
  /**
   * Grouped subscriptions can be queues that outlive their consumers (RabbitMQ): in
   * broker-balanced mode a request waits there for an instance. Default false.
   */
  readonly persistentQueues?: boolean;
  /** The transporter reports a peer whose connection dropped (`onPeerDown`), before heartbeats would. */
  readonly peerAware: boolean;
  /**
   * The transporter proves peers itself with `context.auth` (tcp: in its handshake) and passes
   * the proven sender of each message as `from`. Without it, a node with a secret signs every
   * message instead (`src/security/signed.ts`). Default false.
   */
  readonly authenticates?: boolean;
}

/**
 * Receives every message for a topic this node subscribed to. `from` is the nodeID the
 * transporter proved sent it (its authenticated peer, or the signer), when it knows one: transit
 * then drops a packet whose `sender` says otherwise. For a broker-balanced request it
 * returns a promise that settles when the request is answered: a transporter that acknowledges
 * grouped messages may wait for it, so its prefetch bounds the work in progress.
 */
export type MessageHandler = (
  topic: string,
  data: Uint8Array,
  from?: string,
) => void | Promise<void>;

/**
 * Proof of membership of a cluster: an HMAC-SHA-256 keyed with the cluster's secret (made by
 * `clusterAuth` in `src/security/auth.ts`). A transporter never sees the secret itself.
 */
export interface ClusterAuth {
  /** The MAC of `parts`, each length-prefixed, so no two lists of parts share one. */
  mac(...parts: (string | Uint8Array)[]): Buffer;
  /** Whether `mac` is the MAC of `parts` (compared in constant time). */
  verify(mac: Uint8Array, ...parts: (string | Uint8Array)[]): boolean;
}

/** What transit hands a transporter when it connects. */
export interface TransporterContext {
  readonly nodeID: string;
  readonly namespace: string;
  readonly logger: Logger;
  /**
   * The node's `maxPacketSize`, in bytes: no packet it sends is larger (transit refuses those
   * before `publish`), and none it accepts is either. A transporter bounds what it buffers for
   * one incoming message with it (a frame, parts put together) and refuses more before
   * allocating; it does not check what it is asked to publish.
   */
  readonly maxPacketSize: number;
  /**
   * The cluster's proof of membership when the node has a secret: a transporter that
   * `authenticates` refuses peers that cannot prove it. Absent: no secret, anyone may join.
   */
  readonly auth?: ClusterAuth;
  /** Every incoming message. Must not throw; transit catches its own errors. */
  readonly onMessage: MessageHandler;
  /** A connection to a peer came up (only when `capabilities.peerAware`): transit asks it to introduce itself. */
  readonly onPeerUp?: (nodeID: string) => void;
  /** A peer's connection dropped (only when `capabilities.peerAware`). */
  readonly onPeerDown?: (nodeID: string) => void;
  /** The connection to the server was lost (`false`) or is back (`true`). */
  readonly onConnection?: (connected: boolean) => void;
  /**
   * A discoverer other than the transporter (a registry center such as etcd) tells where peers
   * are, through `addPeer`: a transporter that finds peers by itself may leave its own ways off
   * by default (tcp://: no rendezvous directory). Default false.
   */
  readonly peersFromDiscoverer?: boolean;
}

/**
 * Moves bytes between nodes by topic, and nothing more: topic names, framing of packets,
 * serialization and retries belong to transit. Each implementation is one small module
 * resolved by URL scheme (see `resolveTransporter`).
 */
export interface Transporter {
  readonly capabilities: TransporterCapabilities;
  /** A peer-aware transporter that holds sessions: the nodeIDs it has one with right now. */
  readonly peers?: readonly string[];
  /** Connects (and starts discovery of peers, where the transporter does that itself). */
  connect(context: TransporterContext): Promise<void>;
  /** Closes every connection gracefully (peers hear a goodbye); pending writes are flushed first. */
  disconnect(): Promise<void>;
  /**
   * Drops every connection as a crashed process would: no goodbye, nothing flushed. For fault
   * tests; transporters without it are disconnected instead.
   */
  kill?(): Promise<void>;
  /**
   * Cuts the connection to one peer that misbehaves (transit calls it after repeated bad
   * packets from `nodeID`, as identified by the `from` of {@link MessageHandler}). Optional:
   * only transporters with connections per peer (`tcp://`) have it; the peer may come back.
   */
  dropPeer?(nodeID: string): void;
  /**
   * Where peers reach this node, e.g. `"10.0.0.5:4000"`, for a discoverer to publish beside the
   * node's services; `undefined` before `connect` or when the transporter needs no address (it
   * meets peers through a server). Optional: only transporters that dial peers (`tcp://`).
   */
  advertise?(): string | undefined;
  /**
   * A discoverer says `nodeID` listens at `address` (what its `advertise()` gave): connect to it,
   * and keep trying (with backoff) while the discoverer lists it. Called again on every change;
   * repeated calls with the same address are cheap. Throws a `ConfigurationError` for an
   * address it cannot dial.
   */
  addPeer?(nodeID: string, address: string): void;
  /**
   * Whether a session with `nodeID` is open, so a publish reaches it. Optional: only
   * transporters with a connection per peer (`tcp://`) have it; through a server, every
   * subscribed node is reached.
   */
  hasPeer?(nodeID: string): boolean;
  /**
   * The discoverer no longer lists `nodeID`: stop dialing it. A session that is open stays open
   * until the peer closes it (the discoverer may be wrong; transit decides who is gone).
   */
  removePeer?(nodeID: string): void;
  /**
   * Receives messages published to `topic`. With `group` (only when `capabilities.balancing`;
   * ignored otherwise), each message goes to one subscriber of the group. Resolves once peers
   * will route the topic to this node: a publish after that reaches it.
   */
  subscribe(topic: string, group?: string, options?: SubscribeOptions): Promise<void>;
  /**
   * Sends `data` to every subscriber of `topic` (one per group). Resolves once handed off. The
   * transporter may hold `data` until it is written, so callers must not change it afterwards.
   */
  publish(topic: string, data: Uint8Array, options?: PublishOptions): Promise<void>;
  /**
   * Persistent streams for durable events, when `capabilities.durable`; available after
   * `connect`. `namespace` scopes streams, groups and dead letters.
   */
  durableStreams?(namespace: string): DurableStreams;
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /**
   * With a group on a `durable` transporter: the group's queue outlives its consumers, so
   * messages published while none is connected wait for the next one (until their `ttl`).
   */
  durable?: boolean;
}

/** Options of one publish. */
export interface PublishOptions {
  /** On transporters that queue messages: drop the message if not taken within this many ms. */
  ttl?: number;
  /** On durable transporters: write the message to disk, so it survives a broker restart. */
  persistent?: boolean;
}

/** Makes a transporter from a URL such as `tcp://`, `memory://bus-name`, `nats://127.0.0.1:4222`. */
export type TransporterFactory = (url: URL) => Transporter | Promise<Transporter>;
