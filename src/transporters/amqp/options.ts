import { createHash, randomBytes } from "node:crypto";
import { ConfigurationError } from "../../errors/index.js";
import { TLS_FILE_KEYS, type TlsFiles } from "../tls.js";

/** One RabbitMQ server to dial. */
export interface AmqpHost {
  host: string;
  port: number;
}

/** Options of the `amqp://` transporter; every field has a default (see {@link resolveAmqpOptions}). */
export interface AmqpOptions {
  /** Servers to dial, tried in turn on every (re)connect. Default `127.0.0.1:5672`. */
  hosts?: AmqpHost[];
  /** `amqps` dials with TLS. Default `amqp`. */
  protocol?: "amqp" | "amqps";
  /** Default `guest` / `guest`, as RabbitMQ's own default user. */
  username?: string;
  password?: string;
  /** The virtual host. Default `/`. */
  vhost?: string;
  /** The direct exchange every message goes through. Default `flotilla`. */
  exchange?: string;
  /**
   * Unacknowledged deliveries a group consumer may hold (AMQP `basic.qos`, per consumer): the
   * broker stops handing a busy member more work. `0` means no limit. Default 64.
   */
  prefetch?: number;
  /** AMQP heartbeat in seconds: a silent server is given up after about twice this. Default 10. */
  heartbeat?: number;
  /** Largest AMQP frame in bytes (bigger messages are split). Default 131072, amqplib's. */
  frameMax?: number;
  /** Give up one attempt to open a connection after this many ms. Default 5000. */
  connectTimeout?: number;
  /** Backoff between reconnect attempts, in ms: doubles from `min` up to `max`. */
  reconnectDelay?: { min: number; max: number };
  /** With `amqps`: PEM files of the CA (default: the system CAs), and a client certificate and key. */
  tls?: TlsFiles;
  /**
   * The type of the queues durable events keep their messages in (each group's queue and the
   * namespace's dead-letter queue): `classic` (default) or `quorum` (`?queueType=quorum`), which
   * RabbitMQ replicates over a majority of a cluster's nodes, so one node that dies neither loses
   * nor holds back a durable event. Works on one node too. A queue keeps the type it was made
   * with: asking for another one fails with `INVALID_TRANSPORTER_URL` (see docs/clusters.md).
   * Delay queues (retries waiting out their backoff) stay classic.
   */
  queueType?: QueueType;
}

/** How RabbitMQ keeps a durable queue: on one node (`classic`), or replicated by Raft (`quorum`). */
export type QueueType = "classic" | "quorum";

const QUEUE_TYPES: readonly QueueType[] = ["classic", "quorum"];

/** {@link AmqpOptions} with every default filled in. */
export type ResolvedAmqpOptions = Required<AmqpOptions>;

/** Settings the `amqp://` URL query may carry; anything else is refused. */
const QUERY_KEYS = [
  "prefetch",
  "exchange",
  "heartbeat",
  "frameMax",
  "connectTimeout",
  "hosts",
  "queueType",
  ...TLS_FILE_KEYS,
];

/** AMQP limits names (routing keys, queues, exchanges) to 255 bytes. */
export const MAX_NAME_BYTES = 255;

/**
 * Fills in the defaults and checks the values.
 *
 * @example
 * ```ts
 * resolveAmqpOptions({ prefetch: 16 }).exchange; // "flotilla"
 * ```
 */
export function resolveAmqpOptions(options: AmqpOptions = {}): ResolvedAmqpOptions {
  const resolved: ResolvedAmqpOptions = {
    hosts: options.hosts?.length ? options.hosts : [{ host: "127.0.0.1", port: 5672 }],
    protocol: options.protocol ?? "amqp",
    username: options.username ?? "guest",
    password: options.password ?? "guest",
    vhost: options.vhost ?? "/",
    exchange: options.exchange ?? "flotilla",
    prefetch: options.prefetch ?? 64,
    heartbeat: options.heartbeat ?? 10,
    frameMax: options.frameMax ?? 131_072,
    connectTimeout: options.connectTimeout ?? 5000,
    reconnectDelay: options.reconnectDelay ?? { min: 100, max: 2000 },
    tls: options.tls ?? {},
    queueType: options.queueType ?? "classic",
  };
  integer("prefetch", resolved.prefetch, 0, 65_535);
  integer("heartbeat", resolved.heartbeat, 0, 65_535);
  integer("frameMax", resolved.frameMax, 4096, 2 ** 31 - 1);
  integer("connectTimeout", resolved.connectTimeout, 1, 2 ** 31 - 1);
  if (!QUEUE_TYPES.includes(resolved.queueType)) {
    throw invalid(`queueType must be ${QUEUE_TYPES.join(" or ")}, got '${resolved.queueType}'`);
  }
  const { exchange } = resolved;
  if (exchange === "" || Buffer.byteLength(exchange) > MAX_NAME_BYTES || /^amq\./.test(exchange)) {
    // "amq." names are reserved by RabbitMQ: declaring one fails with ACCESS_REFUSED.
    throw invalid(`exchange must be 1-255 bytes and not start with 'amq.': '${exchange}'`);
  }
  return resolved;
}

/**
 * Reads an `amqp://user:pass@host:port/vhost?prefetch=64&exchange=flotilla&heartbeat=10` URL (several
 * hosts, `amqp://a:5672,b:5672`, arrive in the `hosts` parameter, see `parseTransporterUrl`; they
 * are tried in turn), with `queueType=quorum` for durable events on a cluster. Unknown parameters are an
 * error, so a typo does not silently fall back to a default.
 *
 * @example
 * ```ts
 * parseAmqpUrl(new URL("amqp://app:secret@mq:5672/shop?prefetch=16")).vhost; // "shop"
 * ```
 */
export function parseAmqpUrl(url: URL): AmqpOptions {
  const protocol = url.protocol.replace(/:$/, "");
  if (protocol !== "amqp" && protocol !== "amqps") throw invalid(`unknown scheme '${protocol}:'`);
  const unknown = [...url.searchParams.keys()].filter((k) => !QUERY_KEYS.includes(k));
  if (unknown.length > 0) {
    throw invalid(`unknown option(s) ${unknown.join(", ")}; known: ${QUERY_KEYS.join(", ")}`);
  }
  const q = url.searchParams;
  const defaultPort = protocol === "amqps" ? 5671 : 5672;
  const hostList = q.get("hosts") ?? url.host;
  const hosts = hostList
    .split(",")
    .filter((h) => h !== "")
    .map((h) => parseHost(h, defaultPort));
  const path = url.pathname.replace(/^\//, "");
  const options: AmqpOptions = { protocol, hosts, vhost: path === "" ? "/" : decode(path) };
  if (url.username !== "") options.username = decode(url.username);
  if (url.password !== "") options.password = decode(url.password);
  for (const key of TLS_FILE_KEYS) {
    const file = q.get(key);
    if (file !== null) options.tls = { ...options.tls, [key]: file };
  }
  const exchange = q.get("exchange");
  if (exchange !== null) options.exchange = exchange;
  // Checked by resolveAmqpOptions, like every other value.
  const queueType = q.get("queueType");
  if (queueType !== null) options.queueType = queueType as QueueType;
  for (const key of ["prefetch", "heartbeat", "frameMax", "connectTimeout"] as const) {
    const value = q.get(key);
    if (value !== null) options[key] = Number(value);
  }
  return options;
}

function parseHost(text: string, defaultPort: number): AmqpHost {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (match === null) throw invalid(`bad host '${text}'`);
  const [, host = "", port] = match;
  return { host: host.replace(/^\[|\]$/g, ""), port: port === undefined ? defaultPort : +port };
}

/**
 * The shared queue of a group subscription: named after topic and group (and exchange, so two
 * exchanges on one vhost never share a queue). Transit names broker-balanced groups after their
 * topic, which then appears once.
 *
 * @example
 * ```ts
 * groupQueueName("flotilla", "flo.shop.REQB.users", "flo.shop.REQB.users"); // "flotilla:flo.shop.REQB.users"
 * ```
 */
export function groupQueueName(exchange: string, topic: string, group: string): string {
  return fitName(group === topic ? `${exchange}:${topic}` : `${exchange}:${topic}:${group}`);
}

/**
 * The private queue of one node: readable in the management UI, and unique per connection (a
 * random suffix), since a restarted node may reconnect before the server has dropped the
 * exclusive queue of its previous connection.
 */
export function nodeQueueName(exchange: string, namespace: string, nodeID: string): string {
  const suffix = randomBytes(4).toString("hex");
  return fitName(`${exchange}:node:${namespace || "default"}:${nodeID}:${suffix}`);
}

/** Shortens a name past AMQP's 255-byte limit, keeping it unique with a hash of the whole. */
function fitName(name: string): string {
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 16);
  const head = Buffer.from(name)
    .subarray(0, MAX_NAME_BYTES - 18)
    .toString("utf8");
  // toString may have replaced a cut multi-byte character with U+FFFD (3 bytes): trim to fit.
  let out = `${head}~${hash}`;
  while (Buffer.byteLength(out) > MAX_NAME_BYTES) out = `${out.slice(0, -18)}~${hash}`;
  return out;
}

function integer(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}, got '${value}'`);
  }
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // The text may be a password: the message must not show it.
    throw invalid("bad percent-encoding in the user, password or vhost");
  }
}

function invalid(reason: string): ConfigurationError {
  return new ConfigurationError(
    `Invalid amqp:// transporter URL: ${reason}.`,
    "INVALID_TRANSPORTER_URL",
    { data: { reason } },
  );
}
