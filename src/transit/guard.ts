import { LogLimiter } from "../observability/log-limiter.js";
import { serializerName } from "../serializers/index.js";
import { type BadPacketCounts, BadPackets } from "./bad-packets.js";
import { decodePacket, PacketError } from "./codec.js";
import type { TransitCore } from "./core.js";
import type { Packet } from "./packets.js";

/**
 * The door of a node: every message from another node passes here before anything acts on it.
 * It refuses what is over `maxPacketSize`, what does not decode or has the wrong shape, and what
 * claims a sender other than the peer the transporter proved (`from`: a tcp session, a
 * signature). Each refusal is counted per peer and reason and logged at a bounded rate; a proven
 * peer that keeps sending bad packets is disconnected where the transporter can (`dropPeer`).
 */
export class PacketGuard {
  /** Problems caused by other nodes are logged through it: a few lines per peer and kind. */
  readonly log: LogLimiter;
  readonly #bad = new BadPackets();

  constructor(private readonly core: TransitCore) {
    this.log = new LogLimiter(core.logger);
  }

  /** The packet in `data`, checked; `undefined` when it was refused. */
  admit(topic: string, data: Uint8Array, from: string | undefined): Packet | undefined {
    // Senders refuse packets over their own limit; this node's may be smaller.
    const limit = this.core.settings.maxPacketSize;
    if (data.length > limit) {
      const fields = { topic, size: data.length, limit };
      const proven = from !== undefined;
      this.#dropped(from ?? "?", proven, "size", fields, "Dropped a packet over maxPacketSize");
      return undefined;
    }
    let packet: Packet;
    try {
      packet = decodePacket(this.core.serializer, data);
    } catch (err) {
      this.#refused(topic, err, from);
      return undefined;
    }
    // A sender is believed only when the transporter proved it (tcp session, signature).
    if (from !== undefined && packet.body.sender !== from) {
      const fields = { topic, sender: packet.body.sender, from };
      this.#dropped(from, true, "spoofed", fields, "Dropped a packet whose sender is not its peer");
      return undefined;
    }
    return packet;
  }

  /** A checked packet whose handling failed all the same: its peer still costs a few lines. */
  failed(topic: string, packet: Packet, from: string | undefined, err: unknown): void {
    const peer = from ?? packet.body.sender;
    this.#bad.record(peer, "handler");
    this.log.error(`failed:${peer}`, { err, topic, peer }, "Failed to handle a packet");
  }

  /** Packets dropped since start, per peer and reason (see `broker.health()`). */
  get badPackets(): BadPacketCounts {
    return this.#bad.counts();
  }

  /** A packet that failed its checks: counted, logged (rate-limited), and dropped. */
  #refused(topic: string, err: unknown, from: string | undefined): void {
    if (!(err instanceof PacketError)) throw err;
    const data = err.data as { reason: string; code?: number; version?: number; sender?: string };
    // Without a transporter's proof, the claimed sender is only a label for the counters.
    const peer = from ?? data.sender ?? "?";
    const proven = from !== undefined;
    if (data.reason === "serializer") {
      const msg = `Refused packets from a node using the ${serializerName(data.code ?? 0)} serializer; this node uses ${this.core.serializer.name}. Every node of a cluster must use the same serializer.`;
      // A misconfigured node, not a hostile one: refused, never cut (it would only come back).
      this.#dropped(peer, false, `serializer:${data.code}`, { topic, peer }, msg);
    } else if (data.reason === "version") {
      const msg = `Refused packets of protocol version ${data.version}: ${err.message}`;
      this.#dropped(peer, false, `version:${data.version}`, { topic, peer }, msg);
    } else {
      const fields = { topic, peer, reason: data.reason };
      const msg = `Dropped a malformed packet: ${err.message.slice(0, 300)}`;
      this.#dropped(peer, proven, data.reason, fields, msg);
    }
  }

  /**
   * Counts a dropped packet against its peer and logs it (one line per peer and kind per
   * minute). A peer the transporter identified that keeps sending bad packets is cut.
   */
  #dropped(
    peer: string,
    /** The transporter identified the peer, so it may be cut. */
    proven: boolean,
    kind: string,
    fields: Record<string, unknown>,
    message: string,
  ): void {
    const strikeOut = this.#bad.record(peer, kind);
    this.log.warn(`${kind}:${peer}`, fields, message);
    const { transporter } = this.core;
    // Only a peer the transporter vouches for: a claimed sender could name an innocent node.
    if (strikeOut && proven && transporter.dropPeer) {
      this.log.warn(`drop:${peer}`, { peer }, `Disconnecting '${peer}': repeated bad packets`);
      transporter.dropPeer(peer);
    }
  }
}
