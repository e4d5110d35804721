import type { RedisOptions as ClientOptions } from "ioredis";
import { ConfigurationError } from "../../errors/index.js";
import { readTlsFiles, TLS_FILE_KEYS, type TlsFiles } from "../tls.js";
import type { TransporterContext } from "../transporter.js";

/** Settings of the redis transporter; each has a default and a URL parameter of the same name. */
export interface RedisTransporterOptions extends TlsFiles {
  /** Default `"127.0.0.1"`. */
  host?: string;
  /** Default `6379`. */
  port?: number;
  /** The database (`redis://host/2`). Pub/sub ignores it: channels are server-wide. Default 0. */
  db?: number;
  username?: string;
  password?: string;
  /**
   * Requires TLS (`rediss://` or `?tls=true`); the server's certificate is checked against the
   * system CAs, or `tlsCa`. `tlsCert`/`tlsKey` (PEM files) are presented to a server that asks.
   */
  tls?: boolean;
  /** How long one connect attempt may take, in ms. Default 5000. */
  connectTimeout?: number;
  /** Reconnect waits double from 100 ms up to this many ms (with jitter). Default 2000. */
  maxReconnectWait?: number;
  /** Durable events: a held message idle this many ms is claimed by another member. Default 30000. */
  claimIdle?: number;
  /** Durable events: cap each event's stream near this many entries (0: no cap). Default 0. */
  maxLen?: number;
  /**
   * Redis Sentinel: the name of the master the sentinels watch (`?sentinel=mymaster`, or the path
   * of `redis+sentinel://host:port,host:port/mymaster`). Every connection then asks the
   * sentinels ({@link sentinels}) where that master is, and asks again whenever it reconnects,
   * so a failover reaches the nodes through their lost connections.
   */
  sentinel?: string;
  /** The sentinels to ask, with {@link sentinel}: the URL's host list. Default `host:port`. */
  sentinels?: readonly RedisAddress[];
  /** The sentinels' own password (`requirepass` in sentinel.conf), when they ask for one. */
  sentinelPassword?: string;
}

/** One server's address. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Where sentinels listen unless told. */
const SENTINEL_PORT = 26379;

const numbers = ["connectTimeout", "maxReconnectWait", "claimIdle", "maxLen"] as const;
const known = [...numbers, "tls", "sentinel", "sentinelPassword", "hosts", ...TLS_FILE_KEYS];

function invalid(message: string): ConfigurationError {
  return new ConfigurationError(message, "INVALID_TRANSPORTER_URL");
}

/**
 * Reads redis-transporter options from `redis://[user:pass@]host[:port][/db][?tls=true]`, or,
 * for Redis Sentinel, `redis://sentinel1:26379,sentinel2:26379[/db]?sentinel=mymaster` (also
 * `redis+sentinel://sentinel1:26379,sentinel2:26379/mymaster[/db]`). Unknown parameters, a path
 * that is not a database number, and a list of hosts without `sentinel` (Redis Cluster is not
 * supported) are errors.
 *
 * @example
 * ```ts
 * parseRedisUrl(new URL("redis://:s3cret@10.0.0.7:6380/2"));
 * // { host: "10.0.0.7", port: 6380, db: 2, password: "s3cret" }
 * parseRedisUrl(new URL("redis://10.0.0.7:26379?sentinel=mymaster"));
 * // { host: "10.0.0.7", port: 26379, sentinel: "mymaster", sentinels: [{ host: "10.0.0.7", port: 26379 }] }
 * ```
 */
export function parseRedisUrl(url: URL | string): RedisTransporterOptions {
  const u = typeof url === "string" ? new URL(url) : url;
  const scheme = /^rediss(\+sentinel)?:$/.test(u.protocol) ? { tls: true } : {};
  const options: RedisTransporterOptions = scheme;
  if (u.hostname !== "") options.host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (u.port !== "") options.port = Number(u.port);
  let path = u.pathname.replace(/^\//, "");
  // redis+sentinel://…/mymaster[/db]: the path names the master first.
  if (u.protocol.endsWith("+sentinel:")) {
    const [name = "", ...rest] = path.split("/");
    if (name === "") throw invalid("A redis+sentinel:// URL names its master: '/mymaster'.");
    options.sentinel = decodeURIComponent(name);
    path = rest.join("/");
  }
  const db = path;
  if (db !== "") {
    if (!/^\d+$/.test(db)) throw invalid(`'/${db}' is not a Redis database number.`);
    options.db = Number(db);
  }
  let hosts: string[] | undefined;
  for (const [key, value] of u.searchParams) {
    if (!known.includes(key)) {
      throw invalid(`Unknown redis transporter option '${key}'. Known: ${known.join(", ")}.`);
    }
    if (key === "hosts") hosts = value.split(",").filter(Boolean);
    else if (key === "sentinel") {
      if (value === "") throw invalid("Option 'sentinel' names the master: '?sentinel=mymaster'.");
      options.sentinel = value;
    } else if (key === "sentinelPassword") options.sentinelPassword = value;
    else if (key === "tls") {
      if (!["", "true", "1", "false", "0"].includes(value)) {
        throw invalid(`Option 'tls' must be true or false, got '${value}'.`);
      }
      options.tls = value !== "false" && value !== "0";
    } else if ((TLS_FILE_KEYS as readonly string[]).includes(key)) {
      options[key as keyof TlsFiles] = value;
    } else {
      const n = Number(value);
      if (value === "" || !Number.isInteger(n) || n < 0) {
        throw invalid(`Option '${key}' must be a non-negative integer, got '${value}'.`);
      }
      options[key as (typeof numbers)[number]] = n;
    }
  }
  if (u.username !== "") options.username = decodeURIComponent(u.username);
  if (u.password !== "") options.password = decodeURIComponent(u.password);
  if (options.sentinel !== undefined) {
    const list = hosts ?? [u.port === "" ? u.hostname : u.host];
    options.sentinels = list.filter(Boolean).map(parseAddress);
  } else if (hosts !== undefined) {
    throw invalid(
      "The redis transporter takes one server, or sentinels with '?sentinel=<master name>'; Redis Cluster is not supported.",
    );
  }
  return options;
}

/** `host[:port]` (IPv6 in brackets), the port a sentinel's unless told. */
function parseAddress(text: string): RedisAddress {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (match === null) throw invalid(`'${text}' is not a host[:port].`);
  const [, host = "", port] = match;
  return { host: host.replace(/^\[|\]$/g, ""), port: port === undefined ? SENTINEL_PORT : +port };
}

/**
 * Where the transporter connects, for messages: `host:port`, or the master and its sentinels.
 *
 * @example
 * ```ts
 * serverName({ sentinel: "mymaster", sentinels: [{ host: "s1", port: 26379 }] });
 * // "master 'mymaster' via sentinels s1:26379"
 * ```
 */
export function serverName(o: RedisTransporterOptions): string {
  if (o.sentinel === undefined) return `${o.host ?? "127.0.0.1"}:${o.port ?? 6379}`;
  const list = sentinelsOf(o).map((s) => `${s.host}:${s.port}`);
  return `master '${o.sentinel}' via sentinels ${list.join(", ")}`;
}

function sentinelsOf(o: RedisTransporterOptions): RedisAddress[] {
  if (o.sentinels?.length) return [...o.sentinels];
  return [{ host: o.host ?? "127.0.0.1", port: o.port ?? SENTINEL_PORT }];
}

/** The ioredis settings of both connections: fail fast, reconnect for ever with backoff. */
export function clientOptions(
  o: RedisTransporterOptions,
  context: Pick<TransporterContext, "namespace" | "nodeID">,
): ClientOptions & { host: string; port: number } {
  const maxWait = o.maxReconnectWait ?? 2000;
  const jitter = 0.75 + Math.random() * 0.5;
  return {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 6379,
    db: o.db ?? 0,
    username: o.username,
    password: o.password,
    tls: o.tls ? readTlsFiles(o) : undefined,
    connectionName: `flotilla:${context.namespace || "default"}:${context.nodeID}`.replace(
      /\s/g,
      "_",
    ),
    connectTimeout: o.connectTimeout ?? 5000,
    lazyConnect: true,
    // Fail fast instead of queueing: a call must not wait past its deadline for a server.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // This transporter subscribes again itself, so it knows when the subscriptions are back.
    autoResubscribe: false,
    // One jitter per node, shared by its two connections: nodes spread out, but a node's
    // publisher and subscriber retry together, so neither waits long for the other.
    retryStrategy: (attempt) => Math.round(Math.min(100 * 2 ** (attempt - 1), maxWait) * jitter),
    ...(o.sentinel === undefined ? {} : sentinelOptions(o)),
  };
}

/**
 * ioredis's Sentinel mode: it asks the sentinels for the master's address on every (re)connect
 * and checks, once connected, that the server is the master (ROLE). The same backoff serves the
 * sentinels; with TLS on, the sentinels are dialed with TLS too.
 */
function sentinelOptions(o: RedisTransporterOptions): ClientOptions {
  const tls = o.tls ? readTlsFiles(o) : undefined;
  const maxWait = o.maxReconnectWait ?? 2000;
  return {
    name: o.sentinel,
    sentinels: sentinelsOf(o),
    role: "master",
    sentinelPassword: o.sentinelPassword,
    sentinelRetryStrategy: (attempt) => Math.min(100 * 2 ** (attempt - 1), maxWait),
    enableTLSForSentinelMode: tls !== undefined,
    sentinelTLS: tls,
  };
}
