import { ConfigurationError } from "../../errors/index.js";
import { DEFAULT_RPC_EXCHANGE } from "./names.js";

/** Options of {@link namekoBridge}. */
export interface NamekoBridgeOptions {
  /** The nameko cluster's RabbitMQ, as its `AMQP_URI`: `amqp://guest:guest@127.0.0.1:5672/`. */
  url: string;
  /**
   * The nameko services this node talks to: `broker.call("<service>.<method>")` goes to them,
   * and local handlers of `<service>.<event_type>` receive their events.
   */
  services?: readonly string[];
  /**
   * Local services nameko may call (`rpc-<service>` queues). Default: every local service
   * created before the broker starts (internal `$` services excepted); `[]` exposes none.
   */
  expose?: readonly string[];
  /**
   * Sources whose events go to nameko: `broker.emit("<source>.<type>")` also dispatches `<type>`
   * to the `<source>.events` exchange. Default: the exposed services.
   */
  dispatch?: readonly string[];
  /** nameko's `rpc_exchange` setting. Default `nameko-rpc`. */
  rpcExchange?: string;
  /** Names this node in its reply queue (`rpc.reply-<name>-<uuid>`). Default `flotilla`. */
  name?: string;
  /**
   * Time budget of a call to nameko in ms, unless the call or its parent sets one (0 waits for
   * ever, as nameko's own proxies do). Default: the broker's `requestTimeout`, else 10 000.
   */
  timeout?: number;
  /** The largest message taken from or sent to nameko, in bytes. Default: the broker's `maxPacketSize`, else 16 MiB. */
  maxMessageSize?: number;
}

/** The options with every default applied, checked. */
export interface ResolvedNamekoOptions {
  url: string;
  services: ReadonlySet<string>;
  expose: ReadonlySet<string> | undefined;
  dispatch: ReadonlySet<string> | undefined;
  rpcExchange: string;
  name: string;
  timeout: number;
  maxMessageSize: number;
}

/** Names nameko can route: no spaces, wildcards or `#`, not empty. */
const NAME = /^[^\s*#]+$/;

/** Applies defaults and refuses options that cannot work, with `INVALID_NAMEKO_OPTIONS`. */
export function resolveNamekoOptions(
  options: NamekoBridgeOptions,
  broker: { requestTimeout?: number | undefined; maxPacketSize?: number | undefined },
): ResolvedNamekoOptions {
  const fail = (why: string): never => {
    throw new ConfigurationError(`namekoBridge: ${why}`, "INVALID_NAMEKO_OPTIONS");
  };
  if (typeof options.url !== "string" || !/^amqps?:\/\//.test(options.url)) {
    fail(`url must be an amqp:// or amqps:// URL, got '${String(options.url)}'.`);
  }
  const services = new Set(options.services ?? []);
  const expose = options.expose === undefined ? undefined : new Set(options.expose);
  const dispatch = options.dispatch === undefined ? undefined : new Set(options.dispatch);
  for (const name of [...services, ...(expose ?? []), ...(dispatch ?? [])]) {
    if (!NAME.test(name)) fail(`'${name}' is not a service name nameko can route.`);
  }
  for (const name of [...(expose ?? []), ...(dispatch ?? [])]) {
    if (services.has(name)) {
      fail(`'${name}' is listed as a nameko service and as a local one; it can be only one.`);
    }
  }
  const timeout = options.timeout ?? broker.requestTimeout ?? 10_000;
  if (!Number.isFinite(timeout) || timeout < 0) fail("timeout must be 0 or more milliseconds.");
  const maxMessageSize = options.maxMessageSize ?? broker.maxPacketSize ?? 16 * 1024 * 1024;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize <= 0) {
    fail("maxMessageSize must be a positive number of bytes.");
  }
  return {
    url: options.url,
    services,
    expose,
    dispatch,
    rpcExchange: options.rpcExchange ?? DEFAULT_RPC_EXCHANGE,
    name: options.name ?? "flotilla",
    timeout,
    maxMessageSize,
  };
}
