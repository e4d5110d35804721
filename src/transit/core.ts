import { PacketTooLargeError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../registry/registry.js";
import type { Serializer } from "../serializers/index.js";
import type { PublishOptions, Transporter } from "../transporters/transporter.js";
import { encodePacket } from "./codec.js";
import type { PacketBodies, PacketType } from "./packets.js";
import type { PendingRequests } from "./pending.js";
import type { Topics } from "./topics.js";

/** `maxPacketSize` unless the broker sets one: 16 MiB. */
export const DEFAULT_MAX_PACKET_SIZE = 16 * 1024 * 1024;

/** Timing and limits of the transit layer. */
export interface TransitSettings {
  /** How often a node says it is alive, in ms. Default 1 000. */
  heartbeatInterval: number;
  /** A node silent for this long is dropped and its pending calls fail, in ms. Default 4 000. */
  heartbeatTimeout: number;
  /**
   * The largest packet, in bytes, this node sends or accepts. Default 16 MiB. A larger one is
   * refused before it leaves (`PACKET_TOO_LARGE` to the caller) and dropped on arrival; each
   * transporter bounds its own buffers with it (see `TransporterContext.maxPacketSize`).
   */
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

/**
 * Packets and bytes through the transporter since the node first connected: plain numbers that
 * `send` and transit's receiver add to, read by the metrics when scraped (no metrics library on
 * the packet path).
 */
export interface TransitTraffic {
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
}

/** A {@link TransitTraffic} at zero. */
export function newTraffic(): TransitTraffic {
  return { packetsSent: 0, bytesSent: 0, packetsReceived: 0, bytesReceived: 0 };
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
  /** Packets and bytes sent and received (counted by {@link send} and transit's receiver). */
  readonly traffic: TransitTraffic;
}

/**
 * Encodes and publishes one packet. A packet over `maxPacketSize` is refused here, before it
 * leaves: the promise rejects with {@link PacketTooLargeError}, so the caller learns it at once
 * instead of the receiver dropping it. (A body that cannot be encoded still throws at once.)
 *
 * @example
 * ```ts
 * await send(core, core.topics.node("EVENT", nodeID), PacketType.EVENT, body);
 * ```
 */
export function send<T extends PacketType>(
  core: TransitCore,
  topic: string,
  type: T,
  body: PacketBodies[T],
  options?: PublishOptions,
): Promise<void> {
  const bytes = encodePacket(core.serializer, type, body);
  const tooLarge = checkPacketSize(bytes, core.settings.maxPacketSize);
  if (tooLarge !== undefined) return Promise.reject(tooLarge);
  const traffic = core.traffic;
  traffic.packetsSent++;
  traffic.bytesSent += bytes.length;
  return core.transporter.publish(topic, bytes, options);
}

/**
 * The error for an encoded packet over `limit` bytes, or `undefined` when it fits. For every
 * path that publishes packets other than {@link send} (durable events), so one rule applies.
 *
 * @example
 * ```ts
 * const tooLarge = checkPacketSize(bytes, core.settings.maxPacketSize);
 * if (tooLarge !== undefined) throw tooLarge;
 * ```
 */
export function checkPacketSize(bytes: Uint8Array, limit: number): PacketTooLargeError | undefined {
  return bytes.length > limit ? new PacketTooLargeError(bytes.length, limit) : undefined;
}
