/**
 * Topic names of one namespace. Node-addressed topics end in the node ID; the others reach
 * every node. Transporters treat them as opaque strings.
 */
export class Topics {
  readonly prefix: string;

  constructor(namespace: string) {
    // Dots and wildcards in a namespace would run into other namespaces' subjects: escape them.
    this.prefix = `flo.${(namespace || "default").replace(/[.*> ]/g, "_")}`;
  }

  /** Requests, responses, events, targeted INFO/DISCOVER and PING/PONG for one node. */
  node(
    kind: "REQ" | "RES" | "EVENT" | "INFO" | "DISCOVER" | "PING" | "PONG",
    nodeID: string,
  ): string {
    return `${this.prefix}.${kind}.${nodeID}`;
  }

  /** Broker-balanced requests for one service: one queue (group) the broker hands out. */
  service(fullName: string): string {
    return `${this.prefix}.REQB.${fullName}`;
  }

  /** Broker-balanced events for one listener group. */
  group(group: string): string {
    return `${this.prefix}.EVENTB.${group}`;
  }

  /** Packets for every node. */
  all(kind: "DISCOVER" | "INFO" | "HEARTBEAT" | "DISCONNECT"): string {
    return `${this.prefix}.${kind}`;
  }
}
