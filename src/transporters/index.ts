// Resolves a transporter from its URL. Implementations load lazily: a node that uses `memory://`
// never loads the tcp code, and the broker drivers (nats, amqp, redis) load only when asked for.
import { ConfigurationError } from "../errors/index.js";
import type { Transporter, TransporterFactory } from "./transporter.js";

export type {
  DeadLetter,
  DeadLetterInfo,
  DurableConsumeOptions,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "./durable.js";
export type {
  MessageHandler,
  PublishOptions,
  SubscribeOptions,
  Transporter,
  TransporterCapabilities,
  TransporterContext,
  TransporterFactory,
} from "./transporter.js";

const builtIn = new Map<string, () => Promise<TransporterFactory>>([
  ["memory", async () => (await import("./memory/index.js")).memoryTransporterFromUrl],
  ["tcp", async () => (await import("./tcp/index.js")).tcpTransporterFromUrl],
  ["tcps", async () => (await import("./tcp/index.js")).tcpTransporterFromUrl],
  ["amqp", async () => (await import("./amqp/index.js")).amqpTransporterFromUrl],
  ["amqps", async () => (await import("./amqp/index.js")).amqpTransporterFromUrl],
  ["nats", async () => (await import("./nats/index.js")).natsTransporterFromUrl],
  ["redis", async () => (await import("./redis/index.js")).redisTransporterFromUrl],
  ["rediss", async () => (await import("./redis/index.js")).redisTransporterFromUrl],
]);

const registered = new Map<string, TransporterFactory>();

function normalizeScheme(scheme: string): string {
  const name = scheme.toLowerCase().replace(/:(\/\/)?$/, "");
  if (!/^[a-z][a-z0-9+.-]*$/.test(name)) {
    throw new TypeError(`'${scheme}' is not a URL scheme (letters, digits, '+', '-', '.').`);
  }
  return name;
}

/**
 * Adds (or overrides) the transporter for a URL scheme. Returns a function that removes it again.
 *
 * @example
 * ```ts
 * const unregister = registerTransporter("loopback", (url) => new LoopbackTransporter(url));
 * const broker = new ServiceBroker({ transporter: "loopback://" });
 * ```
 */
export function registerTransporter(scheme: string, factory: TransporterFactory): () => void {
  const name = normalizeScheme(scheme);
  registered.set(name, factory);
  return () => {
    if (registered.get(name) === factory) registered.delete(name);
  };
}

/** The schemes `resolveTransporter` can make a transporter for right now. */
export function knownTransporterSchemes(): string[] {
  return [...new Set([...builtIn.keys(), ...registered.keys()])].sort();
}

/**
 * Parses a transporter URL. A bare name (`"tcp"`) means `tcp://`. A comma-separated host list in
 * the authority (`tcp://a:4000,b:4000`, which `URL` cannot parse) is moved to the `hosts` query
 * parameter, so every factory gets a plain `URL`.
 *
 * @example
 * ```ts
 * parseTransporterUrl("tcp://10.0.0.1:4000,10.0.0.2:4000?udp=false").searchParams.get("hosts");
 * // "10.0.0.1:4000,10.0.0.2:4000"
 * ```
 */
export function parseTransporterUrl(url: string): URL {
  const text = /^[a-z][a-z0-9+.-]*$/i.test(url) ? `${url}://` : url;
  const multi =
    /^([a-z][a-z0-9+.-]*:\/\/)(?:([^@/?#]*)@)?([^/?#]*,[^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(
      text,
    );
  try {
    if (multi === null) return new URL(text);
    const [, scheme, user, hosts = "", path = "", query = "", hash = ""] = multi;
    // The first host stands in the authority (so credentials stay valid); all go in `hosts`.
    const first = hosts.split(",")[0] ?? "";
    const parsed = new URL(
      `${scheme}${user === undefined ? "" : `${user}@`}${first}${path}${query}${hash}`,
    );
    parsed.searchParams.set("hosts", hosts);
    return parsed;
  } catch (cause) {
    throw new ConfigurationError(
      `'${redact(url)}' is not a valid transporter URL.`,
      "INVALID_TRANSPORTER_URL",
      { cause },
    );
  }
}

/**
 * Makes the transporter a URL names, loading its implementation on first use.
 * `memory://[bus]`, `tcp://`, `nats://`, `amqp://` (`amqps://`) and `redis://` are built in;
 * any other scheme fails with `UNKNOWN_TRANSPORTER`.
 *
 * @example
 * ```ts
 * const transporter = await resolveTransporter("tcp://?udp=false");
 * ```
 */
export async function resolveTransporter(url: string | URL): Promise<Transporter> {
  const parsed = typeof url === "string" ? parseTransporterUrl(url) : url;
  const scheme = parsed.protocol.replace(/:$/, "").toLowerCase();
  const factory = registered.get(scheme) ?? (await builtIn.get(scheme)?.());
  if (factory !== undefined) return factory(parsed);
  const known = knownTransporterSchemes();
  throw new ConfigurationError(
    `Unknown transporter '${scheme}:'. Known: ${known.map((s) => `${s}://`).join(", ")}.`,
    "UNKNOWN_TRANSPORTER",
    { data: { scheme, known } },
  );
}

/** Hides a password in a URL before it goes into an error message. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
}
