import { BadPacketError } from "../errors/index.js";
import { checkAnnouncement } from "./announcement.js";
import type { ActionDescriptor, NodeAnnouncement } from "./catalog.js";
import { matchesEvent } from "./patterns.js";

/** Another node as this node knows it. */
export interface NodeInfo {
  readonly id: string;
  /** Changes when the node restarts under the same ID. */
  readonly instanceID: string;
  readonly hostname: string;
  readonly seq: number;
  readonly info: NodeAnnouncement;
  /** When a packet from it last arrived (epoch ms). */
  lastSeen: number;
  /** CPU use reported in its last heartbeat, 0-100. */
  cpu: number;
  /** Round-trip time of its last PONG, in ms. */
  latency: number | undefined;
}

/** An action on another node. */
export interface RemoteAction {
  readonly nodeID: string;
  readonly local: false;
  readonly descriptor: ActionDescriptor;
  readonly service: string;
}

/** An event listener (one group) on another node. */
export interface RemoteListener {
  readonly nodeID: string;
  readonly event: string;
  readonly group: string;
  /** Fed from the durable stream, not by EVENT packets. */
  readonly durable: boolean;
}

/**
 * What the other nodes of the cluster offer, built from their INFO packets. Indexes are rebuilt
 * when a node joins, changes or leaves (rare), so lookups on the call path are map reads.
 */
export class RemoteCatalog {
  readonly nodes = new Map<string, NodeInfo>();
  #actions = new Map<string, RemoteAction[]>();
  #listeners: RemoteListener[] = [];
  #byEvent = new Map<string, RemoteListener[]>();
  #services = new Map<string, number>();
  /**
   * Durable listeners (event or pattern, group) any node ever announced, kept after the node
   * leaves: on transporters without shared streams, an event for a group that is away now has
   * nowhere to wait (see `missingDurableGroups`). Bounded; the oldest are forgotten first.
   */
  readonly #durableSeen = new Map<string, { event: string; group: string }>();

  /**
   * Adds or replaces a node from its INFO. Returns the entry it replaced, if any. An
   * announcement without the shape of one (whatever its source) is refused with
   * {@link BadPacketError} before anything changes, so one bad node cannot break the index of
   * the others.
   */
  upsert(info: NodeAnnouncement, now: number): NodeInfo | undefined {
    const problem = checkAnnouncement(info);
    if (problem !== undefined) {
      const from = typeof info?.sender === "string" ? info.sender.slice(0, 256) : "?";
      throw new BadPacketError(`Malformed announcement from '${from}': info${problem}`, "fields");
    }
    const previous = this.nodes.get(info.sender);
    this.nodes.set(info.sender, {
      id: info.sender,
      instanceID: info.instanceID,
      hostname: info.hostname,
      seq: info.seq,
      info,
      lastSeen: now,
      cpu: previous?.instanceID === info.instanceID ? previous.cpu : 0,
      latency: previous?.instanceID === info.instanceID ? previous.latency : undefined,
    });
    this.#reindex();
    return previous;
  }

  /** Forgets a node. Returns whether it was known. */
  remove(nodeID: string): boolean {
    const known = this.nodes.delete(nodeID);
    if (known) this.#reindex();
    return known;
  }

  /** Nodes that offer `action`, in a stable order. */
  actionEndpoints(action: string): readonly RemoteAction[] {
    return this.#actions.get(action) ?? [];
  }

  /** Remote listeners (node + group) whose event name or pattern matches `event`. */
  listenersFor(event: string): readonly RemoteListener[] {
    let found = this.#byEvent.get(event);
    if (found === undefined) {
      found = this.#listeners.filter((l) => matchesEvent(l.event, event));
      this.#byEvent.set(event, found);
    }
    return found;
  }

  /**
   * The groups of durable listeners of `event` that some node announced once and none offers
   * now (`present` lists the groups this node serves itself).
   */
  missingDurableGroups(event: string, present: ReadonlySet<string>): string[] {
    if (this.#durableSeen.size === 0) return [];
    const now = new Set(
      this.listenersFor(event)
        .filter((l) => l.durable)
        .map((l) => l.group),
    );
    const missing = new Set<string>();
    for (const { event: pattern, group } of this.#durableSeen.values()) {
      if (!now.has(group) && !present.has(group) && matchesEvent(pattern, event))
        missing.add(group);
    }
    return [...missing];
  }

  /** Whether some other node offers the service (by full name). */
  hasService(fullName: string): boolean {
    return this.#services.has(fullName);
  }

  /** Every remote action name with its endpoints. */
  actions(): ReadonlyMap<string, readonly RemoteAction[]> {
    return this.#actions;
  }

  #reindex(): void {
    const actions = new Map<string, RemoteAction[]>();
    const listeners: RemoteListener[] = [];
    const services = new Map<string, number>();
    for (const node of this.nodes.values()) {
      for (const svc of node.info.services) {
        services.set(svc.fullName, (services.get(svc.fullName) ?? 0) + 1);
        for (const descriptor of svc.actions) {
          const list = actions.get(descriptor.name) ?? [];
          list.push({ nodeID: node.id, local: false, descriptor, service: svc.fullName });
          actions.set(descriptor.name, list);
        }
        for (const { event, group, durable } of svc.events) {
          listeners.push({ nodeID: node.id, event, group, durable: durable === true });
          if (durable === true) this.#rememberDurable(event, group);
        }
      }
    }
    this.#actions = actions;
    this.#listeners = listeners;
    this.#byEvent = new Map();
    this.#services = services;
  }

  #rememberDurable(event: string, group: string): void {
    const key = `${group}\u0000${event}`;
    if (this.#durableSeen.has(key)) return;
    if (this.#durableSeen.size >= MAX_DURABLE_SEEN) {
      const oldest = this.#durableSeen.keys().next();
      if (oldest.done !== true) this.#durableSeen.delete(oldest.value);
    }
    this.#durableSeen.set(key, { event, group });
  }
}

/** Durable (event, group) pairs remembered at most: far more than a cluster has. */
const MAX_DURABLE_SEEN = 10_000;
