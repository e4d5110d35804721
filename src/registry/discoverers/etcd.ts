import type { Etcd3, Lease, Watcher } from "etcd3";
import type { Discoverer, DiscovererContext, DiscovererOptions } from "./discoverer.js";
import {
  type EtcdSettings,
  etcdSettings,
  openEtcd,
  pause,
  retryDelay,
  within,
} from "./etcd-client.js";
import { nodeIdOfKey, nodeKey, nodesPath } from "./keys.js";

/**
 * Discovery through etcd (v3 API). Each node puts its entry under
 * `<prefix>/<namespace>/nodes/<nodeID>` with a lease kept alive while it runs (TTL: the broker's
 * `heartbeatTimeout`, at least 2 s), reads the folder once, and watches it from the revision it
 * read. When etcd cannot be reached the view stays as it was; once it answers again the node
 * takes a new lease, moves its entry onto it, reads the folder afresh and watches on from there.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ transporter: "tcp://", discovery: "etcd://127.0.0.1:2379" });
 * ```
 */
export class EtcdDiscoverer implements Discoverer {
  readonly kind = "etcd";
  readonly #settings: EtcdSettings;
  #context: DiscovererContext | undefined;
  #client: Etcd3 | undefined;
  #lease: Lease | undefined;
  #watcher: Watcher | undefined;
  /** Registered, read and watching; `false` while etcd cannot be reached. */
  #online = false;
  #recovering: Promise<void> | undefined;
  #stopped = false;
  /** The entry changed while it could not be written: write it once registered again. */
  #dirty = false;

  constructor(
    readonly url: string,
    readonly options: DiscovererOptions,
  ) {
    this.#settings = etcdSettings(options.params);
  }

  async start(context: DiscovererContext): Promise<void> {
    // A discoverer object given to a broker serves each of its runs (start, stop, start...).
    this.#context = context;
    this.#stopped = false;
    this.#lease = undefined;
    this.#client = await openEtcd(this.options, this.#settings);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#register();
        if (attempt > 1) context.logger.info(`Registry ${this.#where()} reached; node registered`);
        return;
      } catch (err) {
        if (attempt === 1) {
          context.logger.warn(
            { err: String((err as Error)?.message ?? err) },
            `Waiting for the registry ${this.#where()}: this node joins the cluster once it answers`,
          );
        }
        if (!(await pause(retryDelay(attempt), context.signal))) {
          this.#close();
          throw context.signal.reason;
        }
      }
    }
  }

  async update(): Promise<void> {
    const lease = this.#lease;
    if (!this.#online || lease === undefined) {
      this.#dirty = true; // written on reconnect
      return;
    }
    try {
      await lease.put(this.#key()).value(this.#ctx().entry());
    } catch {
      this.#lost();
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const { lease, online } = { lease: this.#lease, online: this.#online };
    const client = this.#client;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    try {
      await within(this.#settings.timeout, async () => {
        await watcher?.cancel();
        // Deleting the key tells every watcher at once; revoking frees the lease.
        if (online) await client?.delete().key(this.#key());
        if (online) await lease?.revoke();
      });
    } catch {
      // etcd is down: the entry expires with its lease.
    } finally {
      this.#close();
    }
  }

  async halt(): Promise<void> {
    this.#stopped = true;
    this.#close();
  }

  /** A new lease with this node's entry on it, a fresh read of the folder, a watch from there. */
  async #register(): Promise<void> {
    const client = this.#client;
    const context = this.#ctx();
    if (client === undefined) throw new Error("not started");
    this.#dirty = false;
    const lease = client.lease(Math.max(2, Math.ceil(context.ttl / 1000)));
    lease.on("lost", () => this.#lease === lease && this.#lost());
    try {
      await lease.put(this.#key()).value(context.entry());
    } catch (err) {
      lease.release();
      throw err;
    }
    const previous = this.#lease;
    this.#lease = lease;
    // The entry is on the new lease now: ending the old one deletes nothing.
    previous?.revoke().catch(() => undefined);
    const folder = this.#folder();
    const read = await client.getAll().prefix(`${folder}/`).exec();
    const entries = new Map<string, Buffer>();
    for (const kv of read.kvs) {
      const nodeID = nodeIdOfKey(folder, kv.key.toString());
      if (nodeID !== undefined) entries.set(nodeID, kv.value);
    }
    if (this.#stopped) return;
    context.onSnapshot(entries);
    await this.#watch(client, folder, String(BigInt(read.header.revision) + 1n));
    this.#online = !this.#stopped;
    if (this.#online && this.#dirty) void this.update();
  }

  /** Watches the folder from revision `next` on: nothing between the read and the watch is missed. */
  async #watch(client: Etcd3, folder: string, next: string): Promise<void> {
    const watcher = client.watch().prefix(`${folder}/`).startRevision(next).watcher();
    // Always listened to: an "error" nobody listens to would throw.
    watcher.on("error", () => this.#watcher === watcher && this.#lost());
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("etcd watch not created")),
          this.#settings.timeout,
        );
        watcher.once("connected", () => {
          clearTimeout(timer);
          resolve();
        });
        watcher.once("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      void watcher.cancel().catch(() => undefined);
      throw err;
    }
    if (this.#stopped) return void watcher.cancel().catch(() => undefined);
    this.#watcher = watcher;
    watcher.on("put", (kv) => this.#watcher === watcher && this.#put(kv.key, kv.value));
    watcher.on("delete", (kv) => this.#watcher === watcher && this.#delete(kv.key));
    watcher.on("disconnected", () => this.#watcher === watcher && this.#lost());
  }

  #put(key: Buffer, value: Buffer): void {
    const nodeID = nodeIdOfKey(this.#folder(), key.toString());
    if (nodeID !== undefined) this.#ctx().onPut(nodeID, value);
  }

  #delete(key: Buffer): void {
    const nodeID = nodeIdOfKey(this.#folder(), key.toString());
    if (nodeID === undefined) return;
    const context = this.#ctx();
    if (nodeID !== context.nodeID) {
      context.onDelete(nodeID);
      return;
    }
    if (this.#stopped) return;
    // Someone removed this running node's entry (by hand, or its lease was revoked): write it
    // again, so the others do not lose this node for longer than a moment.
    context.logger.warn("This node's registry entry was deleted while it runs; writing it again");
    void this.update();
  }

  /** etcd stopped answering (a watch or the lease failed): keep the view, re-register. */
  #lost(): void {
    if (this.#stopped || this.#recovering !== undefined) return;
    this.#online = false;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    void watcher?.cancel().catch(() => undefined);
    // No keep-alives into the void: the new lease replaces it when etcd is back.
    this.#lease?.release();
    const context = this.#ctx();
    context.onConnection(false);
    this.#recovering = (async () => {
      for (let attempt = 1; !this.#stopped; attempt++) {
        if (!(await pause(retryDelay(attempt), context.signal))) return;
        try {
          await this.#register();
          context.onConnection(true);
          return;
        } catch {
          // still unreachable; try again
        }
      }
    })().finally(() => {
      this.#recovering = undefined;
    });
  }

  #close(): void {
    this.#online = false;
    void this.#watcher?.cancel().catch(() => undefined);
    this.#watcher = undefined;
    this.#lease?.release();
    this.#client?.close();
  }

  #ctx(): DiscovererContext {
    if (this.#context === undefined) throw new Error("EtcdDiscoverer is not started");
    return this.#context;
  }

  #folder(): string {
    const { namespace } = this.#ctx();
    return nodesPath(this.options.prefix, namespace);
  }

  #key(): string {
    const { namespace, nodeID } = this.#ctx();
    return nodeKey(this.options.prefix, namespace, nodeID);
  }

  #where(): string {
    const hosts = this.options.hosts.length > 0 ? this.options.hosts : ["127.0.0.1:2379"];
    return `etcd://${hosts.join(",")}`;
  }
}

/**
 * The `etcd://` factory used by `resolveDiscoverer`.
 *
 * @example
 * ```ts
 * const etcd = etcdDiscoverer("etcd://127.0.0.1:2379", { hosts: ["127.0.0.1:2379"], prefix: "/flotilla", params });
 * ```
 */
export function etcdDiscoverer(url: string, options: DiscovererOptions): Discoverer {
  return new EtcdDiscoverer(url, options);
}
