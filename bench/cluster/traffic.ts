import { emptyTraffic, type Kind, type Traffic } from "./protocol.js";

/**
 * Counts the packets and bytes the nodes of one worker hand to their transporters and get from
 * them, by kind. One counter per worker: the figures per node are its totals divided by the
 * node count. What is counted is what the framework's transit sees (a packet, its encoded
 * bytes), not the transporter's own framing or handshakes.
 */
export class TrafficCounter {
  readonly #traffic = emptyTraffic();

  sent(kind: Kind, bytes: number): void {
    const flow = this.#traffic.sent[kind];
    flow.packets++;
    flow.bytes += bytes;
  }

  received(kind: Kind, bytes: number): void {
    const flow = this.#traffic.received[kind];
    flow.packets++;
    flow.bytes += bytes;
  }

  /** A copy of the counters now. */
  snapshot(): Traffic {
    return structuredClone(this.#traffic);
  }
}
