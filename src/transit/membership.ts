import type { NodeAnnouncement, ServiceDescriptor } from "../registry/catalog.js";
import { compareServices, describeConflict, type ServiceConflict } from "../registry/conflicts.js";
import { describeServices } from "../registry/descriptors.js";
import type { TransitCore } from "./core.js";

/** Internal events discovery raises on this node (`$node.connected`, ...). */
export type InternalEmit = (event: string, payload: unknown) => void;

/**
 * What every discoverer does when it learns that a node came, changed or went, whatever told it
 * (an INFO packet, a registry center, a dropped connection): the catalogue is updated, pending
 * calls to a node that left or restarted fail at once, the change is logged and raised as
 * `$node.connected` / `$node.disconnected` / `$services.changed`, and services defined
 * differently on two nodes are reported (`$services.conflict`).
 */
export class Membership {
  /** Conflicts already reported, so each is said once (per pair of node runs and definitions). */
  readonly #conflicts = new Set<string>();

  constructor(
    private readonly core: TransitCore,
    private readonly emit: InternalEmit,
    private readonly left: (nodeID: string) => void = () => {},
  ) {}

  /** A node announced itself (new, changed, or restarted under the same ID). */
  join(info: NodeAnnouncement): void {
    const { registry } = this.core;
    const previous = registry.remote.upsert(info, Date.now());
    const restarted = previous !== undefined && previous.instanceID !== info.instanceID;
    if (restarted) {
      this.core.pending.rejectNode(info.sender, "node restarted");
      this.left(info.sender);
    }
    registry.changed();
    if (previous === undefined || restarted) {
      this.core.logger.info(
        { peer: info.sender, services: info.services.map((s) => s.fullName) },
        `Node '${info.sender}' connected`,
      );
      this.emit("$node.connected", { nodeID: info.sender, reconnected: restarted });
    }
    this.emit("$services.changed", { nodeID: info.sender, local: false });
    this.#checkConflicts(info);
  }

  /** A node left (`unexpected`: lost, not a goodbye). Returns whether it was known. */
  gone(nodeID: string, unexpected: boolean): boolean {
    if (!this.core.registry.remote.remove(nodeID)) return false;
    const failed = this.core.pending.rejectNode(nodeID, unexpected ? "node lost" : "node left");
    this.left(nodeID);
    this.core.registry.changed();
    this.core.logger[unexpected ? "warn" : "info"](
      { peer: nodeID, failedCalls: failed },
      `Node '${nodeID}' ${unexpected ? "lost" : "left"}`,
    );
    this.emit("$node.disconnected", { nodeID, unexpected });
    this.emit("$services.changed", { nodeID, local: false });
    return true;
  }

  /**
   * Warns (log and `$services.conflict`) when the announcing node defines a service version
   * differently from this node or another node: calls would behave differently by where they land.
   */
  #checkConflicts(info: NodeAnnouncement): void {
    const { registry, nodeID } = this.core;
    const others: [string, string, ServiceDescriptor[]][] = [
      [nodeID, this.core.instanceID, describeServices(registry)],
    ];
    for (const node of registry.remote.nodes.values()) {
      if (node.id !== info.sender) others.push([node.id, node.instanceID, node.info.services]);
    }
    for (const mine of info.services) {
      for (const [otherID, otherInstance, services] of others) {
        const theirs = services.find((s) => s.fullName === mine.fullName);
        // Most nodes run the same definition: equal text, nothing to compare (and cheap, since
        // each descriptor's text is made once).
        if (theirs === undefined || fingerprint(theirs) === fingerprint(mine)) continue;
        const diff = compareServices(theirs, mine);
        if (!diff) continue;
        const key = JSON.stringify([mine.fullName, otherInstance, info.instanceID, diff]);
        if (this.#conflicts.has(key)) continue;
        if (this.#conflicts.size > 1000) this.#conflicts.clear();
        this.#conflicts.add(key);
        const conflict: ServiceConflict = {
          service: mine.fullName,
          nodeIDs: [otherID, info.sender],
          onlyOn: { [otherID]: diff.onlyFirst, [info.sender]: diff.onlySecond },
          schemas: diff.schemas,
        };
        this.core.logger.warn(
          conflict,
          `Service '${mine.fullName}' is defined differently on nodes '${otherID}' and '${info.sender}' (${describeConflict(conflict)})`,
        );
        this.emit("$services.conflict", conflict);
      }
    }
  }
}

const fingerprints = new WeakMap<ServiceDescriptor, string>();

/** A descriptor's JSON text, made once per descriptor object (they are not changed once made). */
function fingerprint(service: ServiceDescriptor): string {
  let text = fingerprints.get(service);
  if (text === undefined) {
    text = JSON.stringify(service);
    fingerprints.set(service, text);
  }
  return text;
}
