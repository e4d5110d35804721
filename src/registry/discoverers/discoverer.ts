import type { Logger } from "../../observability/logger.js";

// The discoverer interface: who is in the cluster, what each node serves, and where to reach it.
// The transporter moves packets; the discoverer says who is there. Two families implement it:
//
// - `local` (the default): discovery over the transporter itself (INFO, DISCOVER, HEARTBEAT,
//   DISCONNECT packets), in `src/transit/discovery.ts`, because it speaks the wire protocol.
// - registry centers (`etcd://`, `zk://`): each node writes its entry into the registry under a
//   lease or session that dies with it, and watches the others' entries. They live here, one file
//   each, and know nothing of packets, the catalogue or the broker: they move entries between the
//   registry and a `DiscovererContext`. Decoding an entry, checking its shape, empty-push
//   protection and the catalogue are the context's job (`registry-view.ts`), the same for all.
//
// Layout of a registry center (the same for every implementation, see `keys.ts`):
//
//   <prefix>/<namespace or "default">/nodes/<encodeURIComponent(nodeID)>  ->  entry (JSON text)
//
// `prefix` defaults to `/flotilla`. The entry is the node's announcement (the INFO body:
// `sender`, `instanceID`, `seq`, `hostname`, `services`, `client`) plus `address`, the
// `host:port` its transporter listens on for peers when it has one (tcp://). It is written by
// `context.entry()`; implementations store that text as is and hand back what they read.
//
// Implementing one (the ZooKeeper discoverer is `src/registry/discoverers/zookeeper.ts`):
//
// - export a class named `<Name>Discoverer` (ZooKeeper: `ZooKeeperDiscoverer`) whose constructor
//   is `(url: string, options: DiscovererOptions)`; the resolver (`index.ts`) imports its file
//   lazily by URL scheme (`zk://` and `zookeeper://` -> `./zookeeper.js`), so its client package
//   loads only when asked for, through `optionalDependency` (`src/util/optional.ts`: a missing
//   package fails with `MISSING_DEPENDENCY` and the `npm install` line).
// - the URL may name several servers, `zk://h1:2181,h2:2181` (`options.hosts` lists them, already
//   split); `options.prefix` is the root; other query parameters are in `options.params` and an
//   unknown one is a `ConfigurationError` (code `INVALID_DISCOVERY_URL`).
// - run it through `test/conformance/discoverers.test.ts` against the real server.

/**
 * Settings every registry discoverer gets from the resolver (`resolveDiscoverer`), parsed from
 * its URL and the broker's `discovery` option.
 */
export interface DiscovererOptions {
  /** The servers, `"host:port"` each, from the URL's authority (`etcd://h1:2379,h2:2379`). */
  readonly hosts: readonly string[];
  /**
   * Root of every key or path, starting with `/` and without a trailing one. Default
   * `"/flotilla"`; set with `?prefix=`, the URL's path (`etcd://h:2379/shop`) or the broker
   * option `discovery: { url, prefix }`.
   */
  readonly prefix: string;
  /** Credentials from the URL's authority (`etcd://user:password@host:2379`), decoded. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** The URL's other query parameters, for options of one implementation. */
  readonly params: URLSearchParams;
}

/**
 * What the broker hands a discoverer when it starts: who this node is, its entry, and where to
 * report what the registry says. Every `on…` callback is cheap, never throws, and may be called
 * from any callback of the client library.
 */
export interface DiscovererContext {
  readonly nodeID: string;
  /** The broker's namespace (`""` is stored as `"default"`, see `keys.ts`). */
  readonly namespace: string;
  readonly logger: Logger;
  /**
   * How long this node's entry outlives the node, in ms: the lease TTL (etcd) or session timeout
   * (ZooKeeper). A crashed node disappears from the others' view within about this long. Taken
   * from the broker's `heartbeatTimeout`; implementations round up to what their server allows.
   */
  readonly ttl: number;
  /**
   * Aborted when the node stops (or its start is given up): `start()` stops retrying and
   * rejects, and no retry or reconnect is scheduled after it.
   */
  readonly signal: AbortSignal;
  /**
   * This node's entry, encoded: the text to store under its key. It changes (services start
   * and stop, the node leaves), so read it again on every write.
   */
  entry(): string;
  /**
   * The registry's full view of the namespace, by nodeID: after the first read and after every
   * reconnect (a watch restarted on a fresh read). Nodes absent from it are gone, unless
   * empty-push protection keeps them. May include this node's own entry: the context skips it.
   */
  onSnapshot(entries: ReadonlyMap<string, string | Uint8Array>): void;
  /** A node's entry appeared or changed (its key was put). `value` is the stored text. */
  onPut(nodeID: string, value: string | Uint8Array): void;
  /** A node's entry went away: a graceful leave, or its lease or session expired. */
  onDelete(nodeID: string): void;
  /**
   * The registry became unreachable (`false`) or reachable again (`true`). Report each change
   * once; after `true`, re-register (a new lease or session) and send a fresh `onSnapshot`.
   * While unreachable the context keeps the last view: nodes stay, calls go on.
   */
  onConnection(connected: boolean): void;
}

/**
 * Says who is in the cluster. Made from a URL by `resolveDiscoverer` (`"local"`,
 * `"etcd://127.0.0.1:2379"`, `"zk://127.0.0.1:2181"`), or passed as an object in the broker's
 * `discovery` option. One instance serves one broker run: `start`, any number of `update`, then
 * `stop` or `halt`.
 *
 * @example
 * ```ts
 * const discoverer = await resolveDiscoverer("etcd://127.0.0.1:2379");
 * const broker = new ServiceBroker({ transporter: "tcp://", discovery: discoverer });
 * ```
 */
export interface Discoverer {
  /** The kind, for logs and health: `"local"`, `"etcd"`, `"zookeeper"`, ... */
  readonly kind: string;
  /**
   * Connects, registers this node (its entry under a lease or ephemeral node), reads the whole
   * view (`onSnapshot`) and starts watching (`onPut`, `onDelete`). Resolves once registered and
   * read. While the registry cannot be reached it logs one clear line saying the node waits for
   * it, keeps retrying with backoff, and rejects only when `context.signal` aborts (the broker's
   * start timeout or stop), with `context.signal.reason`; it then leaves nothing running.
   */
  start(context: DiscovererContext): Promise<void>;
  /**
   * This node's entry changed: write `context.entry()` again. While the registry is
   * unreachable, resolve at once and write it on reconnect (the newest entry, once).
   */
  update(): Promise<void>;
  /**
   * Leaves gracefully: deletes this node's entry (others drop it at once), ends the lease or
   * session, stops watching and closes the client. Resolves even when the registry is down
   * (then the entry expires by itself within `ttl`).
   */
  stop(): Promise<void>;
  /**
   * Stops as a crashed process would, for fault tests: keep-alives and watches stop and the
   * client closes, but the entry is not deleted, so others see it expire after `ttl`.
   */
  halt(): Promise<void>;
}

/** Makes a discoverer from its URL and the common options (see `index.ts`). */
export type DiscovererFactory = (url: string, options: DiscovererOptions) => Discoverer;
