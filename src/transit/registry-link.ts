import { BrokerStoppedError, WaitTimeoutError } from "../errors/index.js";
import type { NodeAnnouncement } from "../registry/catalog.js";
import type { Discoverer, DiscovererContext } from "../registry/discoverers/discoverer.js";
import { encodeEntry, type NodeEntry } from "../registry/discoverers/entry.js";
import { RegistryView } from "../registry/discoverers/registry-view.js";
import type { TransitCore } from "./core.js";
import type { Membership } from "./membership.js";

/** Longest a start waits for the nodes the registry lists to be reached, in ms. */
const SETTLE_TIMEOUT = 2_000;

/** What the link needs besides transit's core. */
export interface RegistryLinkOptions {
  readonly namespace: string;
  /** This node's announcement now (services, or none while leaving). */
  readonly announcement: () => NodeAnnouncement;
  /** How long `start()` waits for an unreachable registry before giving up, in ms (0: forever). */
  readonly startTimeout: number;
}

/**
 * Joins a registry discoverer (etcd, ZooKeeper) to transit: builds its context (this node's
 * entry with the transporter's address), applies what the registry says to the catalogue
 * through a {@link RegistryView} (empty-push protection included), and hands peers' addresses
 * to the transporter. Heartbeats stay on the transporter: they tell whether a node still
 * answers, and carry its CPU for the strategies.
 */
export class RegistryLink {
  readonly view: RegistryView;
  readonly #abort = new AbortController();
  /** Nodes whose address the transporter refused, so each is said once. */
  readonly #badAddress = new Set<string>();

  constructor(
    private readonly core: TransitCore,
    membership: Membership,
    private readonly discoverer: Discoverer,
    private readonly options: RegistryLinkOptions,
  ) {
    const { registry, transporter, logger } = core;
    this.view = new RegistryView(
      {
        nodeID: core.nodeID,
        instanceID: core.instanceID,
        logger,
        liveness: core.settings.heartbeatTimeout,
        nodes: () =>
          [...registry.remote.nodes.values()].map((n) => ({
            id: n.id,
            instanceID: n.instanceID,
            seq: n.seq,
            lastSeen: n.lastSeen,
            services: n.info.services,
          })),
        reachable: (nodeID) => transporter.hasPeer?.(nodeID) ?? true,
        localServices: () => [...registry.services.keys()].filter((s) => registry.isStarted(s)),
        join: ({ address: _, ...info }) => membership.join(info),
        leave: (nodeID, unexpected) => membership.gone(nodeID, unexpected),
        peer: (nodeID, address) => this.#peer(nodeID, address),
      },
      core.settings.heartbeatInterval,
    );
    if (transporter.addPeer === undefined && transporter.advertise !== undefined) {
      logger.debug("The transporter advertises an address but takes none from discoverers");
    }
  }

  /** Registers this node and reads the view; waits (logging once) while the registry is down. */
  async start(): Promise<void> {
    const { view, core } = this;
    const signal = this.#abort.signal;
    const limit = this.options.startTimeout;
    const what = `the registry center (${this.discoverer.kind})`;
    const timer =
      limit > 0
        ? setTimeout(() => this.#abort.abort(new WaitTimeoutError(what, limit)), limit)
        : undefined;
    const context: DiscovererContext = {
      nodeID: core.nodeID,
      namespace: this.options.namespace,
      logger: core.logger.child({ discovery: this.discoverer.kind }),
      ttl: core.settings.heartbeatTimeout,
      signal,
      entry: () => encodeEntry(this.#entry()),
      onSnapshot: (entries) => view.onSnapshot(entries),
      onPut: (nodeID, value) => view.onPut(nodeID, value),
      onDelete: (nodeID) => view.onDelete(nodeID),
      onConnection: (connected) => view.onConnection(connected),
    };
    try {
      await this.discoverer.start(context);
    } finally {
      clearTimeout(timer);
    }
    // The nodes found are dialed now: give them a moment to come up, as tcp's connect() does.
    await view.settled(Math.min(SETTLE_TIMEOUT, core.settings.heartbeatTimeout));
  }

  /** This node's entry changed; write it (failures are logged, the registry retries). */
  update(): Promise<void> {
    return this.discoverer.update().catch((err: unknown) => {
      this.core.logger.warn({ err }, "Could not update this node's registry entry");
    });
  }

  /** Deletes this node's entry and closes the client. */
  async stop(): Promise<void> {
    this.#abort.abort(new BrokerStoppedError(this.core.nodeID));
    this.view.close();
    await this.discoverer.stop();
  }

  /** Stops without deleting the entry: it expires, as a crashed node's would. */
  async halt(): Promise<void> {
    this.#abort.abort(new BrokerStoppedError(this.core.nodeID));
    this.view.close();
    await this.discoverer.halt();
  }

  #entry(): NodeEntry {
    const address = this.core.transporter.advertise?.();
    return { ...this.options.announcement(), ...(address === undefined ? {} : { address }) };
  }

  #peer(nodeID: string, address: string | undefined): void {
    const { transporter, logger } = this.core;
    if (address === undefined) {
      transporter.removePeer?.(nodeID);
      return;
    }
    try {
      transporter.addPeer?.(nodeID, address);
      this.#badAddress.delete(nodeID);
    } catch (err) {
      if (this.#badAddress.has(nodeID)) return;
      if (this.#badAddress.size >= 1000) this.#badAddress.clear();
      this.#badAddress.add(nodeID);
      logger.warn({ err, peer: nodeID, address }, `Cannot dial node '${nodeID}' at '${address}'`);
    }
  }
}
