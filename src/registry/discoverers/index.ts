// Resolves a discoverer from the broker's `discovery` option. Registry discoverers load lazily:
// a node on the default (`local`) never loads the etcd or ZooKeeper code or client.
import type { Discoverer, DiscovererFactory, DiscovererOptions } from "./discoverer.js";
import { discoveryError } from "./errors.js";
import { prefixProblem } from "./keys.js";

export type {
  Discoverer,
  DiscovererContext,
  DiscovererFactory,
  DiscovererOptions,
} from "./discoverer.js";
export { nodeIdOfKey, nodeKey, nodesPath } from "./keys.js";

/**
 * The broker's `discovery` option: `"local"` (default: over the transporter), a registry URL
 * (`"etcd://127.0.0.1:2379"`, `"etcd://h1:2379,h2:2379?prefix=/shop"`, `"zk://127.0.0.1:2181"`),
 * the URL with a key prefix, or a discoverer made elsewhere.
 */
export type DiscoveryOption = string | Discoverer | { url: string; prefix?: string };

/** The default root of registry keys. */
export const DEFAULT_PREFIX = "/flotilla";

const builtIn = new Map<string, () => Promise<DiscovererFactory>>([
  ["etcd", async () => (await import("./etcd.js")).etcdDiscoverer],
  ["zk", zookeeper],
  ["zookeeper", zookeeper],
]);

async function zookeeper(): Promise<DiscovererFactory> {
  const { ZooKeeperDiscoverer } = await import("./zookeeper.js");
  return (url, options) => new ZooKeeperDiscoverer(url, options);
}

/** The URL schemes `resolveDiscoverer` knows, besides `local`. */
export function knownDiscoverySchemes(): string[] {
  return [...builtIn.keys()];
}

/**
 * Makes the discoverer the broker's `discovery` option names. Returns `undefined` for `local`
 * (and when the option is absent): transit then discovers over the transporter itself.
 *
 * @example
 * ```ts
 * const etcd = await resolveDiscoverer("etcd://10.0.0.1:2379,10.0.0.2:2379?prefix=/shop");
 * ```
 */
export async function resolveDiscoverer(
  option: DiscoveryOption | undefined,
): Promise<Discoverer | undefined> {
  if (option === undefined) return undefined;
  if (typeof option !== "string" && !("url" in option)) return option;
  const text = typeof option === "string" ? option : option.url;
  if (text === "local" || text === "local://") return undefined;
  const { scheme, options } = parseDiscoveryUrl(text, typeof option === "string" ? {} : option);
  const factory = await builtIn.get(scheme)?.();
  if (factory === undefined) throw unknown(scheme);
  return factory(text, options);
}

/**
 * Splits a discovery URL into its scheme and the common options: the hosts of its authority
 * (a comma list, which `URL` cannot parse), the key prefix (`?prefix=`, else `given.prefix`,
 * else `/flotilla`) and the other query parameters.
 *
 * @example
 * ```ts
 * parseDiscoveryUrl("etcd://h1:2379,h2:2379?prefix=/shop").options.hosts; // ["h1:2379", "h2:2379"]
 * ```
 */
export function parseDiscoveryUrl(
  text: string,
  given: { prefix?: string | undefined } = {},
): { scheme: string; options: DiscovererOptions } {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(text);
  if (match === null) {
    throw discoveryError(
      `'${redact(text)}' is not a discovery URL: use "local", "etcd://host:2379" or "zk://host:2181".`,
      "INVALID_DISCOVERY_URL",
    );
  }
  const [, scheme = "", authority = "", path = "", query = ""] = match;
  const params = new URLSearchParams(query);
  const at = authority.lastIndexOf("@");
  const hosts = authority
    .slice(at + 1)
    .split(",")
    .filter((h) => h !== "");
  const auth = at < 0 ? undefined : credentials(authority.slice(0, at));
  const prefix = params.get("prefix") ?? given.prefix ?? (path.length > 1 ? path : DEFAULT_PREFIX);
  params.delete("prefix");
  const problem = prefixProblem(prefix);
  if (problem !== undefined) {
    throw discoveryError(`Discovery prefix '${prefix}' ${problem}.`, "INVALID_DISCOVERY_URL");
  }
  for (const host of hosts) {
    if (!/^(\[[0-9a-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/i.test(host)) {
      throw discoveryError(
        `'${host}' in '${redact(text)}' is not a host[:port].`,
        "INVALID_DISCOVERY_URL",
      );
    }
  }
  const options = { hosts, prefix, params, ...(auth === undefined ? {} : { auth }) };
  return { scheme: scheme.toLowerCase(), options };
}

/** `user:password` of a URL's authority, percent-decoded. */
function credentials(userinfo: string): { username: string; password: string } {
  const colon = userinfo.indexOf(":");
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw discoveryError(
        "The discovery URL's credentials are badly encoded.",
        "INVALID_DISCOVERY_URL",
      );
    }
  };
  return colon < 0
    ? { username: decode(userinfo), password: "" }
    : { username: decode(userinfo.slice(0, colon)), password: decode(userinfo.slice(colon + 1)) };
}

function unknown(scheme: string) {
  const known = ["local", ...builtIn.keys()];
  return discoveryError(
    `Unknown discoverer '${scheme}:'. Known: ${known.join(", ")}.`,
    "UNKNOWN_DISCOVERER",
    { data: { scheme, known } },
  );
}

/** Hides a password in a URL before it goes into an error message. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
}
