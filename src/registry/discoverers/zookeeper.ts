import type { Discoverer, DiscovererContext, DiscovererOptions } from "./discoverer.js";
import { discoveryError } from "./errors.js";
import { loadZooKeeperClient } from "./zookeeper/client.js";
import { ZooKeeperRun, type ZooKeeperSettings } from "./zookeeper/run.js";

/** ZooKeeper's client port, for a host named without one. */
const DEFAULT_PORT = 2181;

/**
 * Discovery through Apache ZooKeeper (`zk://host:2181`, `zookeeper://h1:2181,h2:2181/prefix`):
 * each node keeps an ephemeral znode `<prefix>/<namespace>/nodes/<nodeID>` holding its entry
 * (announcement and transport address), so a node that crashes disappears when its session
 * expires (the session timeout is the broker's `heartbeatTimeout`, bounded by the server to 2-20
 * ticks). Every node watches the folder's children and each entry's data. A dropped connection
 * keeps the last view; an expired session is replaced by a new one that registers again. Uses
 * the pure-JS `node-zookeeper-client` package, an optional peer dependency.
 *
 * `zk://user:password@host:2181` sends digest credentials. The URL takes no other options.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ transporter: "tcp://", discovery: "zk://127.0.0.1:2181" });
 * ```
 */
export class ZooKeeperDiscoverer implements Discoverer {
  readonly kind = "zookeeper";
  readonly #settings: ZooKeeperSettings;
  #run: ZooKeeperRun | undefined;

  constructor(url: string, options: DiscovererOptions) {
    for (const key of options.params.keys()) {
      throw discoveryError(
        `Unknown ZooKeeper discovery option '${key}' in '${url.replace(/\/\/[^@/]*@/, "//***@")}': the URL takes a host list and a prefix only.`,
        "INVALID_DISCOVERY_URL",
      );
    }
    const hosts = options.hosts.length > 0 ? options.hosts : [`127.0.0.1:${DEFAULT_PORT}`];
    const ipv6 = hosts.find((h) => h.startsWith("["));
    if (ipv6 !== undefined) {
      // node-zookeeper-client splits `host:port` at every colon.
      throw discoveryError(
        `'${ipv6}': the ZooKeeper client cannot dial IPv6 addresses; name the server by a host name.`,
        "INVALID_DISCOVERY_URL",
      );
    }
    const { auth } = options;
    this.#settings = {
      hosts: hosts.map((h) => (/:\d+$/.test(h) ? h : `${h}:${DEFAULT_PORT}`)),
      prefix: options.prefix,
      ...(auth === undefined ? {} : { auth: `${auth.username}:${auth.password}` }),
    };
  }

  async start(context: DiscovererContext): Promise<void> {
    if (this.#run !== undefined) throw new Error("This ZooKeeper discoverer was started already");
    const zk = await loadZooKeeperClient();
    this.#run = new ZooKeeperRun(zk, this.#settings, context);
    await this.#run.started;
  }

  async update(): Promise<void> {
    await this.#run?.update();
  }

  async stop(): Promise<void> {
    await this.#run?.stop();
  }

  async halt(): Promise<void> {
    this.#run?.halt();
  }
}
