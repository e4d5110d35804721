import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import { ConfigurationError } from "../../errors/index.js";
import { readTlsFiles } from "../tls.js";
import type { TransporterContext } from "../transporter.js";

/** A host and port to dial. */
export interface Address {
  host: string;
  port: number;
}

/** Settings of the tcp transporter; every one has a default and a URL parameter of that name. */
export interface TcpOptions {
  /** Interface to listen on. Default `"127.0.0.1"` (this machine); `"0.0.0.0"` listens on all. */
  host?: string;
  /** Port to listen on. Default `0`: an ephemeral port, published through discovery. */
  port?: number;
  /**
   * Where other nodes dial this one, as a registry discoverer (etcd, ZooKeeper) publishes it:
   * a host (`"10.0.0.5"`, `"node-a.internal"`) or `host:port` when a port mapping stands between.
   * Default: the listening `host`; when that is every interface (`0.0.0.0`, `::`), this machine's
   * first non-internal IPv4 address (`127.0.0.1` when it has none).
   */
  advertise?: string;
  /**
   * Local rendezvous directory discovery. Default `true`, or `false` when a registry
   * discoverer (the broker's `discovery` option) gives peers' addresses.
   */
  rendezvous?: boolean;
  /**
   * Root of the rendezvous directory; nodes meet in `<dir>/<namespace or "default">`.
   * Default `$FLOTILLA_TCP_DIR`, else `<os.tmpdir()>/flotilla`.
   */
  dir?: string;
  /** UDP announce discovery (its packets leave the machine). Default `false`. */
  udp?: boolean;
  /** Multicast group (or broadcast/unicast address) to announce to. Default `"239.0.0.0"`. */
  udpAddress?: string;
  /** UDP port to announce to and listen on. Default `4445`. */
  udpPort?: number;
  /** Milliseconds between UDP announcements. Default `2000`. */
  udpInterval?: number;
  /** Addresses (`"host:port"`) to dial directly, retried with backoff. Default none. */
  seeds?: readonly string[];
  /**
   * Bytes queued for one peer before it counts as dead and is dropped. Default 64 MiB, and at
   * least twice the broker's `maxPacketSize`.
   */
  maxBufferedBytes?: number;
  /** How long `connect()` waits for the handshakes with the peers found at start. Default 2000. */
  readyTimeout?: number;
  /**
   * A session that receives nothing for this many ms is dropped (heartbeats cross it every
   * `heartbeatInterval`); 0 turns it off. Default 60000.
   */
  idleTimeout?: number;
  /** Milliseconds between rescans of the rendezvous directory. Default `1000`. */
  rescanInterval?: number;
  /**
   * TLS between nodes (`tcps://` or `?tls=true`). Default off. Every node of a cluster must
   * agree: a plain node and a TLS node cannot talk.
   */
  tls?: boolean;
  /** PEM file of this node's certificate (chain). Default `$FLOTILLA_TLS_CERT`. Needed with `tls`. */
  tlsCert?: string;
  /** PEM file of this node's private key. Default `$FLOTILLA_TLS_KEY`. Needed with `tls`. */
  tlsKey?: string;
  /**
   * PEM file of the CA(s) that sign the nodes' certificates; a peer's certificate must chain to
   * one and name the address it was dialed at. Default `$FLOTILLA_TLS_CA`, else the system CAs.
   */
  tlsCa?: string;
  /** Mutual TLS: a node also requires (and checks) the certificate of nodes that dial it. Default false. */
  tlsMutual?: boolean;
}

/** The TLS material of a node, read from its files. */
export interface TcpTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  mutual: boolean;
}

/** Options with every default filled in, for one connect. */
export interface ResolvedTcpOptions {
  host: string;
  port: number;
  /** Where others dial this node, once its port is known (see {@link advertisedAddress}). */
  advertise: string | undefined;
  /** The directory itself (namespace included), or `undefined` when rendezvous is off. */
  dir: string | undefined;
  udp: { address: string; port: number; interval: number } | undefined;
  seeds: Address[];
  /** The broker's `maxPacketSize`: the largest payload a frame from a peer may carry. */
  maxPacketSize: number;
  maxBufferedBytes: number;
  readyTimeout: number;
  idleTimeout: number;
  rescanInterval: number;
  tls: TcpTls | undefined;
}

const MiB = 1024 * 1024;

const numbers = [
  "port",
  "udpPort",
  "udpInterval",
  "maxBufferedBytes",
  "readyTimeout",
  "idleTimeout",
  "rescanInterval",
] as const;
const booleans = ["rendezvous", "udp", "tls", "tlsMutual"] as const;
const strings = ["host", "advertise", "dir", "udpAddress", "tlsCert", "tlsKey", "tlsCa"] as const;
const known = [...numbers, ...booleans, ...strings, "seeds", "hosts"];

function invalid(message: string): ConfigurationError {
  return new ConfigurationError(message, "INVALID_TRANSPORTER_URL");
}

/**
 * Reads tcp-transporter options from a URL: `tcp://host:port` (or a comma list, which the
 * resolver passes as `hosts`) and `?seeds=` name seeds; every other {@link TcpOptions} key is a
 * query parameter. Unknown parameters are an error, so a typo does not pass silently.
 *
 * @example
 * ```ts
 * parseTcpUrl("tcp://10.0.0.5:4000?udp=false&port=4001");
 * // { seeds: ["10.0.0.5:4000"], udp: false, port: 4001 }
 * ```
 */
export function parseTcpUrl(url: URL | string): TcpOptions {
  const u = typeof url === "string" ? new URL(url) : url;
  // `tcps://` is `tcp://` with TLS.
  const options: TcpOptions = u.protocol === "tcps:" ? { tls: true } : {};
  const seeds: string[] = [];
  // With a host list, the authority holds only its first host, which `hosts` lists too.
  if (u.hostname !== "" && !u.searchParams.has("hosts")) {
    if (u.port === "") throw invalid(`Seed '${u.host}' in '${u.href}' needs a port.`);
    seeds.push(u.host);
  }
  for (const [key, value] of u.searchParams) {
    if (!known.includes(key)) {
      throw invalid(`Unknown tcp transporter option '${key}'. Known: ${known.join(", ")}.`);
    }
    if (key === "seeds" || key === "hosts") seeds.push(...value.split(",").filter(Boolean));
    else if ((numbers as readonly string[]).includes(key)) {
      const n = Number(value);
      if (value === "" || !Number.isInteger(n) || n < 0) {
        throw invalid(`Option '${key}' must be a non-negative integer, got '${value}'.`);
      }
      options[key as (typeof numbers)[number]] = n;
    } else if ((booleans as readonly string[]).includes(key)) {
      if (!["", "true", "1", "false", "0"].includes(value)) {
        throw invalid(`Option '${key}' must be true or false, got '${value}'.`);
      }
      options[key as (typeof booleans)[number]] = value !== "false" && value !== "0";
    } else options[key as (typeof strings)[number]] = value;
  }
  for (const seed of seeds) parseAddress(seed);
  if (seeds.length > 0) options.seeds = seeds;
  return options;
}

/**
 * Splits `"host:port"` (IPv6 in brackets: `"[::1]:4000"`).
 *
 * @example
 * ```ts
 * parseAddress("127.0.0.1:4000"); // { host: "127.0.0.1", port: 4000 }
 * ```
 */
export function parseAddress(text: string): Address {
  const colon = text.lastIndexOf(":");
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || host === "" || !Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw invalid(`'${text}' is not a host:port address.`);
  }
  return { host, port };
}

/**
 * Fills in the defaults for a node of `context.namespace`, with its `maxPacketSize`; `env`
 * supplies `FLOTILLA_TCP_DIR`.
 *
 * @example
 * ```ts
 * resolveTcpOptions({ udp: true }, { namespace: "shop", maxPacketSize: 16 * 1024 * 1024 });
 * ```
 */
export function resolveTcpOptions(
  options: TcpOptions,
  context: Pick<TransporterContext, "namespace" | "maxPacketSize" | "peersFromDiscoverer">,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTcpOptions {
  const { namespace, maxPacketSize } = context;
  const tls = options.tls === true ? readTls(options, env) : undefined;
  const root = options.dir ?? env.FLOTILLA_TCP_DIR ?? path.join(tmpdir(), "flotilla");
  // A registry center says where peers are: the directory is then only used when asked for.
  const rendezvous = options.rendezvous ?? context.peersFromDiscoverer !== true;
  return {
    // Loopback unless asked: no port opens to the network by accident, and nodes on one machine
    // meet through the rendezvous directory anyway.
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    advertise: options.advertise,
    dir:
      rendezvous === false
        ? undefined
        : path.join(root, encodeURIComponent(namespace || "default")),
    // UDP announcements leave the machine, so they are opt-in (`?udp=true`).
    udp:
      options.udp !== true
        ? undefined
        : {
            address: options.udpAddress ?? "239.0.0.0",
            port: options.udpPort ?? 4445,
            interval: options.udpInterval ?? 2000,
          },
    seeds: (options.seeds ?? []).map(parseAddress),
    maxPacketSize,
    // A peer must be able to hold at least a couple of full packets in its queue.
    maxBufferedBytes: Math.max(options.maxBufferedBytes ?? 64 * MiB, 2 * maxPacketSize),
    readyTimeout: options.readyTimeout ?? 2000,
    idleTimeout: options.idleTimeout ?? 60_000,
    rescanInterval: options.rescanInterval ?? 1000,
    tls,
  };
}

function readTls(options: TcpOptions, env: NodeJS.ProcessEnv): TcpTls {
  const cert = options.tlsCert ?? env.FLOTILLA_TLS_CERT;
  const key = options.tlsKey ?? env.FLOTILLA_TLS_KEY;
  const ca = options.tlsCa ?? env.FLOTILLA_TLS_CA;
  if (cert === undefined || key === undefined) {
    throw invalid(
      "TLS on tcp:// needs a certificate and a key: ?tlsCert=...&tlsKey=... (or FLOTILLA_TLS_CERT and FLOTILLA_TLS_KEY).",
    );
  }
  const files = readTlsFiles({ tlsCert: cert, tlsKey: key, tlsCa: ca });
  return {
    cert: files.cert as Buffer,
    key: files.key as Buffer,
    ca: files.ca,
    mutual: options.tlsMutual === true,
  };
}

/**
 * The `host:port` other nodes dial this node at, listening on `port`: the `advertise` option
 * (with this port unless it names one), else the listening host, else (listening on every
 * interface) the first non-internal IPv4 address of this machine, else `127.0.0.1`.
 *
 * @example
 * ```ts
 * advertisedAddress({ host: "0.0.0.0", advertise: undefined }, 4000); // "10.0.0.5:4000"
 * ```
 */
export function advertisedAddress(
  o: Pick<ResolvedTcpOptions, "host" | "advertise">,
  port: number,
): string {
  const given = o.advertise;
  if (given !== undefined && given !== "") {
    const withPort = /^\[.*\]:\d+$/.test(given) || /^[^:]+:\d+$/.test(given);
    if (withPort) return formatAddress(parseAddress(given));
    return formatAddress({ host: given.replace(/^\[(.*)\]$/, "$1"), port });
  }
  if (!isWildcard(o.host)) return formatAddress({ host: o.host, port });
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === "IPv4" && !i.internal);
  return formatAddress({ host: external?.address ?? "127.0.0.1", port });
}

/** `host:port`, with an IPv6 host in brackets. */
function formatAddress({ host, port }: Address): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether `host` is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Whether `host` means "every interface" rather than one address others can dial. */
export function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::";
}

/** Exponential backoff with jitter: 100 ms, 200 ms, ... up to 5 s. */
export function backoff(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.max(0, attempt - 1), 5000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
