import { ANNOUNCEMENT_LIMITS, checkAnnouncement } from "../registry/announcement.js";
import {
  anything,
  boolean,
  type Check,
  list,
  nullable,
  number,
  object,
  optional,
  record,
  shape,
  text,
} from "../util/shape.js";
import { PacketType } from "./packets.js";

/** Bounds of a packet's fields, beyond `maxPacketSize` and the serializer's `maxDepth`. */
export const PACKET_LIMITS = {
  ...ANNOUNCEMENT_LIMITS,
  /** Error messages and stacks in a RESPONSE. */
  message: 1024 * 1024,
  /** Event groups named in one EVENT. */
  groups: 10_000,
  /** Headers of a REQUEST or EVENT. */
  headers: 256,
  /** Causes of an error in a RESPONSE, nested. */
  causes: 8,
} as const;

const L = PACKET_LIMITS;
const id = text(L.id, true);
const name = text(L.name, true);
const count = number(0, Number.MAX_SAFE_INTEGER, true);
const headers = optional(record(L.headers, text(L.text)));

/** A plain error and its causes, down to {@link PACKET_LIMITS.causes}. */
function plainError(depth: number): Check {
  return shape({
    name: text(L.name),
    message: text(L.message),
    code: text(L.name),
    status: number(),
    retryable: boolean,
    data: anything,
    nodeID: optional(text(L.id)),
    stack: optional(text(L.message)),
    cause: depth < L.causes ? optional(plainError(depth + 1)) : anything,
  });
}

const call = {
  sender: id,
  meta: optional(object),
  requestID: text(L.name),
  parentID: optional(text(L.name)),
  level: count,
  caller: optional(text(L.name)),
  headers,
};

/** The shape of each packet type's body: what transit and the registry rely on. */
const bodies: Record<PacketType, Check> = {
  [PacketType.REQUEST]: shape({
    ...call,
    id,
    action: name,
    params: anything,
    timeout: number(0),
    sentAt: optional(number(0)),
    stream: optional(boolean),
  }),
  [PacketType.RESPONSE]: shape({
    sender: id,
    id,
    ok: boolean,
    data: anything,
    error: optional(plainError(0)),
    stream: optional(boolean),
  }),
  [PacketType.EVENT]: shape({
    ...call,
    event: name,
    payload: anything,
    groups: nullable(list(L.groups, name)),
    broadcast: optional(boolean),
    messageID: optional(text(L.name)),
    ack: optional(text(L.name)),
  }),
  [PacketType.DISCOVER]: shape({ sender: id }),
  [PacketType.INFO]: checkAnnouncement,
  [PacketType.HEARTBEAT]: shape({ sender: id, instanceID: id, cpu: number() }),
  [PacketType.PING]: shape({ sender: id, id: text(L.name), time: number() }),
  [PacketType.PONG]: shape({ sender: id, id: text(L.name), time: number(), arrived: number() }),
  [PacketType.DISCONNECT]: shape({ sender: id }),
  [PacketType.CANCEL]: shape({ sender: id, id }),
  // Decoded from binary by streams/wire.ts, which checks the lengths; the types are checked here.
  [PacketType.STREAM]: shape({
    sender: id,
    id,
    seq: count,
    flags: number(0, 255, true),
    data: anything,
  }),
  [PacketType.STREAM_ACK]: shape({
    sender: id,
    id,
    credit: number(0, 1_000_000, true),
    cancel: optional(boolean),
  }),
};

/**
 * Checks a decoded body against the shape of its packet type, before any part of the node acts
 * on it: field types, string lengths, list sizes (see {@link PACKET_LIMITS}). Returns what is
 * wrong, e.g. `".services[0]: expected an object"`, or `undefined` for a packet to trust.
 *
 * @example
 * ```ts
 * checkBody(PacketType.PING, { sender: "n1", id: "x", time: "now" }); // ".time: expected a number ..."
 * ```
 */
export function checkBody(type: PacketType, body: unknown): string | undefined {
  return bodies[type](body);
}
