import type { ConnectionOptions } from "@nats-io/transport-node";
import { ConfigurationError } from "../../errors/index.js";
import { readTlsFiles, TLS_FILE_KEYS, type TlsFiles } from "../tls.js";
import type { TransporterContext } from "../transporter.js";
import type { JetStreamOptions } from "./jetstream.js";

/** Settings of the nats transporter; each has a default and a URL parameter of the same name. */
export interface NatsOptions extends TlsFiles {
  /** Servers as `host:port`. Default `["127.0.0.1:4222"]`. */
  servers?: readonly string[];
  /** User name and password, from `nats://user:pass@host`. */
  user?: string;
  pass?: string;
  /** An auth token, from `nats://token@host` (a user name without a password) or `?token=`. */
  token?: string;
  /**
   * Requires TLS (`?tls=true`, or `tls://host`); the server's certificate is checked against the
   * system CAs, or `tlsCa`. Any of `tlsCa`/`tlsCert`/`tlsKey` (PEM files) turns it on too.
   */
  tls?: boolean;
  /** Milliseconds between reconnect attempts to one server. Default 1000. */
  reconnectWait?: number;
  /** Up to this many random milliseconds are added to each wait, so nodes do not reconnect in step. Default 500. */
  reconnectJitter?: number;
  /** Milliseconds between the client's pings; a silent server is noticed after `maxPingOut` of them. Default 10 000. */
  pingInterval?: number;
  /** Unanswered pings before the connection counts as dead and is redialed. Default 2. */
  maxPingOut?: number;
  /** How long the first connect (and each redial) may take, in ms. Default 5000. */
  connectTimeout?: number;
}

/** Options with every default filled in. */
export type ResolvedNatsOptions = Required<
  Omit<NatsOptions, "user" | "pass" | "token" | keyof TlsFiles>
> &
  Pick<NatsOptions, "user" | "pass" | "token" | keyof TlsFiles>;

const numbers = [
  "ackWait",
  "publishTimeout",
  "maxAge",
  "replicas",
  "reconnectWait",
  "reconnectJitter",
  "pingInterval",
  "maxPingOut",
  "connectTimeout",
] as const;
const known = [...numbers, "tls", "token", "hosts", ...TLS_FILE_KEYS];

function invalid(message: string): ConfigurationError {
  return new ConfigurationError(message, "INVALID_TRANSPORTER_URL");
}

/**
 * Reads nats-transporter options from a URL: `nats://[user:pass@]host[:port]` (a comma list of
 * servers arrives from the resolver as `?hosts=`), and the other {@link NatsOptions} as query
 * parameters. Unknown parameters are an error, so a typo does not pass silently.
 *
 * @example
 * ```ts
 * parseNatsUrl(new URL("nats://app:s3cret@10.0.0.5:4222?reconnectWait=250"));
 * // { servers: ["10.0.0.5:4222"], user: "app", pass: "s3cret", reconnectWait: 250 }
 * ```
 */
export function parseNatsUrl(url: URL | string): NatsOptions & JetStreamOptions {
  const u = typeof url === "string" ? new URL(url) : url;
  const options: NatsOptions & JetStreamOptions = {};
  const servers: string[] = [];
  // With a host list, the authority holds only its first host, which `hosts` lists too.
  if (u.hostname !== "" && !u.searchParams.has("hosts"))
    servers.push(u.port === "" ? `${u.host}:4222` : u.host);
  if (u.pathname !== "" && u.pathname !== "/") {
    throw invalid(`The nats transporter takes no path: '${u.pathname}'.`);
  }
  for (const [key, value] of u.searchParams) {
    if (!known.includes(key)) {
      throw invalid(`Unknown nats transporter option '${key}'. Known: ${known.join(", ")}.`);
    }
    if (key === "hosts") {
      for (const host of value.split(",").filter(Boolean)) {
        servers.push(/:\d+$/.test(host) ? host : `${host}:4222`);
      }
    } else if (key === "tls") {
      if (!["", "true", "1", "false", "0"].includes(value)) {
        throw invalid(`Option 'tls' must be true or false, got '${value}'.`);
      }
      options.tls = value !== "false" && value !== "0";
    } else if (key === "token") options.token = value;
    else if ((TLS_FILE_KEYS as readonly string[]).includes(key)) {
      options[key as keyof TlsFiles] = value;
    } else {
      const n = Number(value);
      if (value === "" || !Number.isInteger(n) || n < 0) {
        throw invalid(`Option '${key}' must be a non-negative integer, got '${value}'.`);
      }
      options[key as (typeof numbers)[number]] = n;
    }
  }
  if (servers.length > 0) options.servers = servers;
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (user !== "" && pass !== "") Object.assign(options, { user, pass });
  else if (user !== "") options.token = user;
  return options;
}

/** Fills in the defaults. */
export function resolveNatsOptions(options: NatsOptions): ResolvedNatsOptions {
  return {
    ...options,
    servers: options.servers?.length ? options.servers : ["127.0.0.1:4222"],
    tls:
      options.tls ??
      (options.tlsCa !== undefined ||
        options.tlsCert !== undefined ||
        options.tlsKey !== undefined),
    // A broker restart is over in seconds; a fixed wait plus jitter gets every node back soon
    // after without all of them knocking at once.
    reconnectWait: options.reconnectWait ?? 1000,
    reconnectJitter: options.reconnectJitter ?? 500,
    // The client's default (2 minutes) would leave a half-open connection undetected for long.
    pingInterval: options.pingInterval ?? 10_000,
    maxPingOut: options.maxPingOut ?? 2,
    connectTimeout: options.connectTimeout ?? 5000,
  };
}

/** The client's settings for one node: reconnect for ever, named after the node. */
export function clientOptions(
  o: ResolvedNatsOptions,
  context: Pick<TransporterContext, "namespace" | "nodeID">,
): ConnectionOptions {
  return {
    servers: [...o.servers],
    user: o.user,
    pass: o.pass,
    token: o.token,
    // The nats client takes PEM text.
    tls: o.tls
      ? Object.fromEntries(Object.entries(readTlsFiles(o)).map(([k, v]) => [k, v.toString()]))
      : undefined,
    // Shown by the server's monitoring (connz), so an operator can tell the nodes apart.
    name: `flotilla ${context.namespace || "default"} ${context.nodeID}`,
    maxReconnectAttempts: -1,
    // The client would build an Error (a stack trace) per request to report where it was made;
    // durable publishes are requests, and that alone cost about a fifth of their CPU.
    noAsyncTraces: true,
    reconnectTimeWait: o.reconnectWait,
    reconnectJitter: o.reconnectJitter,
    pingInterval: o.pingInterval,
    maxPingOut: o.maxPingOut,
    timeout: o.connectTimeout,
  };
}

/** Subjects made only of these, in non-empty dot-separated tokens, are used as they are. */
const PLAIN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/**
 * The NATS subject for a topic. Transit's topics (`flo.shop.REQ.node-1`) are used as they are.
 * Anything a subject cannot hold (whitespace, the wildcards `*` and `>`, empty tokens) and every
 * other character outside `[A-Za-z0-9_-]` is percent-encoded per token, an empty token becomes
 * `%`: the mapping stays one-to-one, and a node ID like `a b*` cannot turn a subscription into a
 * wildcard or a malformed protocol line. Tokens stay tokens, so subject permissions by prefix
 * (`flo.shop.>`) keep working.
 *
 * @example
 * ```ts
 * natsSubject("flo.shop.REQ.node-1"); // "flo.shop.REQ.node-1"
 * natsSubject("flo.shop.REQ.my node*"); // "flo.shop.REQ.my%20node%2A"
 * ```
 */
export function natsSubject(topic: string): string {
  // Every publish names a topic from a small set (per node and kind): check each once.
  let subject = subjects.get(topic);
  if (subject === undefined) {
    subject = PLAIN.test(topic) ? topic : topic.split(".").map(escapeToken).join(".");
    if (subjects.size > 10_000) subjects.clear();
    subjects.set(topic, subject);
  }
  return subject;
}

const subjects = new Map<string, string>();

function escapeToken(token: string): string {
  if (token === "") return "%";
  let out = "";
  for (const byte of Buffer.from(token, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
