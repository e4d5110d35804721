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
}

const numbers = ["connectTimeout", "maxReconnectWait", "claimIdle", "maxLen"] as const;
const known = [...numbers, "tls", ...TLS_FILE_KEYS];

function invalid(message: string): ConfigurationError {
  return new ConfigurationError(message, "INVALID_TRANSPORTER_URL");
}

/**
 * Reads redis-transporter options from `redis://[user:pass@]host[:port][/db][?tls=true]`.
 * Unknown parameters, a path that is not a database number, and a list of hosts (Sentinel and
 * Cluster are not supported) are errors.
 *
 * @example
 * ```ts
 * parseRedisUrl(new URL("redis://:s3cret@10.0.0.7:6380/2"));
 * // { host: "10.0.0.7", port: 6380, db: 2, password: "s3cret" }
 * ```
 */
export function parseRedisUrl(url: URL | string): RedisTransporterOptions {
  const u = typeof url === "string" ? new URL(url) : url;
  const options: RedisTransporterOptions = u.protocol === "rediss:" ? { tls: true } : {};
  if (u.hostname !== "") options.host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (u.port !== "") options.port = Number(u.port);
  const db = u.pathname.replace(/^\//, "");
  if (db !== "") {
    if (!/^\d+$/.test(db)) throw invalid(`'/${db}' is not a Redis database number.`);
    options.db = Number(db);
  }
  for (const [key, value] of u.searchParams) {
    if (key === "hosts") {
      throw invalid(
        "The redis transporter takes one server; Sentinel and Cluster are not supported.",
      );
    }
    if (!known.includes(key)) {
      throw invalid(`Unknown redis transporter option '${key}'. Known: ${known.join(", ")}.`);
    }
    if (key === "tls") {
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
  return options;
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
  };
}
