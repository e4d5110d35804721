import type { Logger } from "../../observability/logger.js";
import type { DiscovererContext } from "./discoverer.js";
import { decodeEntry, type NodeEntry } from "./entry.js";

/** A node of the catalogue, as the view needs to judge a removal. */
export interface ViewNode {
  readonly id: string;
  readonly instanceID: string;
  /** The `seq` of the announcement the catalogue holds. */
  readonly seq: number;
  /** When a packet from it last arrived (epoch ms). */
  readonly lastSeen: number;
  readonly services: readonly { readonly fullName: string }[];
}

/** What the view acts on: the catalogue (through transit) and the transporter's peers. */
export interface ViewHost {
  readonly nodeID: string;
  readonly instanceID: string;
  readonly logger: Logger;
  /** A node heard from within this many ms still answers (the heartbeat timeout). */
  readonly liveness: number;
  /** The other nodes in the catalogue now. */
  nodes(): Iterable<ViewNode>;
  /**
   * Whether the transporter reaches the node now (tcp://: a session is open). A node the
   * registry lists joins the catalogue only then, so no call goes where it cannot arrive; when
   * the session comes up, transit calls {@link RegistryView.heard}.
   */
  reachable(nodeID: string): boolean;
  /** Full names of the services this node serves itself. */
  localServices(): Iterable<string>;
  /** Adds or replaces a node in the catalogue. */
  join(entry: NodeEntry): void;
  /**
   * Removes a node from the catalogue: the registry no longer lists it (`unexpected`: it had
   * gone silent too, as a crashed node whose lease expired; else it left gracefully).
   */
  leave(nodeID: string, unexpected: boolean): void;
  /** The node's transport address, or `undefined` when it left the registry. */
  peer(nodeID: string, address: string | undefined): void;
}

/** Most instanceIDs of nodes that said goodbye kept (their entries may outlive them a moment). */
const MAX_DEPARTED = 1000;

/**
 * The catalogue as a registry center describes it, kept safe from the registry's faults. Fed by
 * a registry discoverer (it implements the `on…` callbacks of {@link DiscovererContext}) and by
 * transit (nodes the transporter lost or heard from again).
 *
 * - The registry unreachable: nothing changes; nodes stay and calls go on.
 * - Empty-push protection: an answer that would remove every instance of a service while those
 *   nodes still answer over the transporter (heard from within `liveness`) is not applied; the
 *   nodes are kept, a warning is logged, and they are checked again every `recheck` ms.
 * - A node the transporter lost (dropped connection, missed heartbeats, goodbye) stays out of
 *   the catalogue, even if its entry is still there, until it is heard from again; a new node
 *   joins once the transporter reaches it (on tcp://, once the session with it is up).
 */
export class RegistryView
  implements Pick<DiscovererContext, "onSnapshot" | "onPut" | "onDelete" | "onConnection">
{
  /** What the registry says now, by nodeID (this node excluded). */
  readonly #entries = new Map<string, NodeEntry>();
  /** Nodes kept in the catalogue though the registry dropped them (empty-push protection). */
  readonly #held = new Set<string>();
  /** Nodes the transporter lost, by the instanceID lost: not joined again until heard from. */
  readonly #muted = new Map<string, string>();
  readonly #departed = new Set<string>();
  #registryUp = true;
  #duplicateWarned = false;
  #timer: NodeJS.Timeout | undefined;
  /** Callers of {@link settled} waiting for the listed nodes to join. */
  #waiters: (() => void)[] = [];

  constructor(
    private readonly host: ViewHost,
    private readonly recheck: number,
  ) {}

  onSnapshot(entries: ReadonlyMap<string, string | Uint8Array>): void {
    const fresh = new Map<string, NodeEntry>();
    for (const [nodeID, value] of entries) {
      const entry = this.#decode(nodeID, value);
      if (entry !== undefined) fresh.set(nodeID, entry);
    }
    const gone = [...this.#entries.keys()].filter((id) => !fresh.has(id));
    for (const node of this.host.nodes()) if (!fresh.has(node.id)) gone.push(node.id);
    for (const entry of fresh.values()) this.#put(entry);
    this.#remove(new Set(gone));
  }

  onPut(nodeID: string, value: string | Uint8Array): void {
    const entry = this.#decode(nodeID, value);
    if (entry !== undefined) this.#put(entry);
  }

  onDelete(nodeID: string): void {
    if (nodeID === this.host.nodeID) return;
    this.#remove(new Set([nodeID]));
  }

  onConnection(connected: boolean): void {
    if (connected === this.#registryUp) return;
    this.#registryUp = connected;
    if (connected) this.host.logger.info("Registry reachable again; re-registered this node");
    else
      this.host.logger.warn(
        "Registry unreachable: keeping the last known nodes, calls go on; retrying",
      );
  }

  /** Whether the registry answers (as its discoverer last reported). */
  get registryUp(): boolean {
    return this.#registryUp;
  }

  /** Transit lost the node (`graceful`: it said goodbye): keep it out until heard from again. */
  lost(nodeID: string, graceful: boolean): void {
    this.#held.delete(nodeID);
    const entry = this.#entries.get(nodeID);
    if (entry === undefined) return;
    if (graceful) {
      if (this.#departed.size >= MAX_DEPARTED) this.#departed.clear();
      this.#departed.add(entry.instanceID);
    } else this.#muted.set(nodeID, entry.instanceID);
    this.#wake();
  }

  /**
   * Transit heard from a node missing from the catalogue (a heartbeat, a new connection): if the
   * registry lists that run of it, it joins again.
   */
  heard(nodeID: string, instanceID?: string): void {
    const entry = this.#entries.get(nodeID);
    if (entry === undefined || (instanceID !== undefined && entry.instanceID !== instanceID))
      return;
    if (this.#departed.has(entry.instanceID)) return;
    this.#muted.delete(nodeID);
    this.host.join(entry);
    this.#wake();
  }

  /**
   * Resolves once every node the registry lists has joined the catalogue (the transporter
   * reaches it), or after `ms`: a node's start waits for the cluster it found, as tcp://'s
   * `connect()` waits for its peers' handshakes, but not for one that cannot be reached.
   */
  settled(ms: number): Promise<void> {
    if (this.#waiting() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.push(done);
    });
  }

  /** Listed nodes not in the catalogue yet, though nothing keeps them out. */
  #waiting(): number {
    const known = new Set([...this.host.nodes()].map((n) => n.id));
    let count = 0;
    for (const [id, entry] of this.#entries) {
      if (known.has(id) || this.#muted.has(id) || this.#departed.has(entry.instanceID)) continue;
      count += 1;
    }
    return count;
  }

  #wake(): void {
    if (this.#waiters.length > 0 && this.#waiting() === 0) {
      for (const done of [...this.#waiters]) done();
    }
  }

  /** Stops the re-check timer. */
  close(): void {
    for (const done of [...this.#waiters]) done();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #decode(nodeID: string, value: string | Uint8Array): NodeEntry | undefined {
    const entry = decodeEntry(nodeID, value);
    if (typeof entry === "string") {
      this.host.logger.warn({ peer: nodeID.slice(0, 256) }, `Ignoring a registry entry: ${entry}`);
      return undefined;
    }
    if (nodeID !== this.host.nodeID) return entry;
    if (entry.instanceID !== this.host.instanceID && !this.#duplicateWarned) {
      this.#duplicateWarned = true;
      this.host.logger.warn(
        { nodeID },
        `Another node uses the node ID '${nodeID}'; node IDs must be unique`,
      );
    }
    return undefined;
  }

  #put(entry: NodeEntry): void {
    const id = entry.sender;
    this.#entries.set(id, entry);
    this.#held.delete(id);
    this.host.peer(id, entry.address);
    if (this.#departed.has(entry.instanceID)) return;
    if (this.#muted.get(id) === entry.instanceID) return;
    this.#muted.delete(id);
    if (!this.host.reachable(id)) return; // joins when the transporter reaches it (`heard`)
    // A fresh read repeats what the catalogue has: nothing to tell anyone.
    for (const node of this.host.nodes()) {
      if (node.id === id && node.instanceID === entry.instanceID && node.seq === entry.seq) return;
    }
    this.host.join(entry);
    this.#wake();
  }

  /**
   * Applies the removal of `ids` from the registry, except for nodes that still answer and
   * whose removal would leave one of their services with no instance at all.
   */
  #remove(ids: ReadonlySet<string>): void {
    for (const id of ids) this.#entries.delete(id);
    const nodes = [...this.host.nodes()];
    const remaining = new Set(this.host.localServices());
    for (const node of nodes) {
      if (!ids.has(node.id)) for (const s of node.services) remaining.add(s.fullName);
    }
    const now = Date.now();
    for (const node of nodes) {
      if (!ids.has(node.id)) continue;
      const orphans = node.services.map((s) => s.fullName).filter((s) => !remaining.has(s));
      const answers = now - node.lastSeen <= this.host.liveness;
      if (orphans.length > 0 && answers) {
        this.#hold(node.id, orphans);
        continue;
      }
      if (this.#held.delete(node.id)) {
        this.host.logger.info({ peer: node.id }, `Node '${node.id}' released from protection`);
      }
      this.host.leave(node.id, !answers);
    }
    for (const id of ids) {
      if (!this.#held.has(id)) {
        this.#muted.delete(id);
        this.host.peer(id, undefined);
      }
    }
    this.#wake();
  }

  #hold(nodeID: string, services: string[]): void {
    if (!this.#held.has(nodeID)) {
      this.#held.add(nodeID);
      this.host.logger.warn(
        { peer: nodeID, services },
        `The registry dropped node '${nodeID}', the last instance of ${services.join(", ")}, while it still answers: keeping it (empty-push protection), checking again`,
      );
    }
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#held.size === 0) return this.close();
      this.#remove(new Set([...this.#held].filter((id) => !this.#entries.has(id))));
    }, this.recheck);
    this.#timer.unref();
  }
}
