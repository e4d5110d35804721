import type { Logger } from "../observability/logger.js";
import type { Registry } from "../registry/registry.js";
import type { Serializer } from "../serializers/index.js";
import type { PublishOptions, Transporter } from "../transporters/transporter.js";
import { encodePacket } from "./codec.js";
import type { PacketBodies, PacketType } from "./packets.js";
import type { PendingRequests } from "./pending.js";
import type { Topics } from "./topics.js";

/** Timing and limits of the transit layer. */
export interface TransitSettings {
  /** How often a node says it is alive, in ms. Default 1 000. */
  heartbeatInterval: number;
  /** A node silent for this long is dropped and its pending calls fail, in ms. Default 4 000. */
  heartbeatTimeout: number;
  /** Packets larger than this are dropped, in bytes. Default 16 MiB. */
  maxPacketSize: number;
  /** Use a local endpoint when there is one, before balancing across nodes. Default true. */
  preferLocal: boolean;
  /**
   * Who balances calls and events: this node, from its registry (`registry`, default), or the
   * message broker, through one queue per service and per event group (`broker`; only on
   * transporters with the `balancing` capability).
   */
  balancing: "registry" | "broker";
}

/** What the pieces of transit share: identity, wire, catalogue and the pending table. */
export interface TransitCore {
  readonly nodeID: string;
  /** Random per start: tells this run of the node from an earlier one with the same ID. */
  readonly instanceID: string;
  readonly topics: Topics;
  readonly serializer: Serializer;
  readonly transporter: Transporter;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly pending: PendingRequests;
  readonly settings: TransitSettings;
}

/** Encodes and publishes one packet. */
export function send<T extends PacketType>(
  core: TransitCore,
  topic: string,
  type: T,
  body: PacketBodies[T],
  options?: PublishOptions,
): Promise<void> {
  return core.transporter.publish(topic, encodePacket(core.serializer, type, body), options);
}
