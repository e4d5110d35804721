import type { PlainError } from "../errors/index.js";
import type { NodeAnnouncement } from "../registry/catalog.js";
import type { Meta } from "../service/call-types.js";

/** The wire protocol version; a packet with another version is refused. */
export const PROTOCOL_VERSION = 1;

/** Packet types and their one-byte codes in the header. */
export const PacketType = {
  REQUEST: 1,
  RESPONSE: 2,
  EVENT: 3,
  DISCOVER: 4,
  INFO: 5,
  HEARTBEAT: 6,
  PING: 7,
  PONG: 8,
  DISCONNECT: 9,
  CANCEL: 10,
  STREAM: 11,
  STREAM_ACK: 12,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** Fields every packet body has. */
interface Base {
  /** The sending node's ID. */
  sender: string;
}

/** A call to an action on the receiving node. */
export interface RequestPacket extends Base {
  id: string;
  action: string;
  params: unknown;
  meta: Meta;
  requestID: string;
  parentID?: string | undefined;
  level: number;
  caller?: string | undefined;
  /** Milliseconds the callee has left (0 = no limit), so clocks need not agree. */
  timeout: number;
  /**
   * When the caller sent it (epoch ms); set for broker-balanced requests, which may wait in a
   * queue: a callee that takes one after its budget ran out drops it instead of running it.
   */
  sentAt?: number | undefined;
  headers?: Record<string, string> | undefined;
  /** The params are a byte stream: they follow as STREAM packets with this request's ID. */
  stream?: boolean | undefined;
}

/** The answer to a request: its result or its error. */
export interface ResponsePacket extends Base {
  id: string;
  ok: boolean;
  data?: unknown;
  error?: PlainError;
  /** The result is a byte stream: it follows as STREAM packets with the request's ID. */
  stream?: boolean | undefined;
}

/** An event for some groups on the receiving node (`groups` null: every handler). */
export interface EventPacket extends Base {
  event: string;
  payload: unknown;
  meta: Meta;
  requestID: string;
  parentID?: string | undefined;
  level: number;
  caller?: string | undefined;
  groups: string[] | null;
  /** Every handler of the named groups (or of all groups when `groups` is null), not one per group. */
  broadcast: boolean;
  /** Durable events: the stable message ID. */
  messageID?: string | undefined;
  headers?: Record<string, string> | undefined;
  /**
   * The sender waits for a RESPONSE with this ID, sent once the receiver's durable handlers have
   * settled the event (handled, or dead-lettered): an explicitly durable emit on a transporter
   * without streams (`tcp://`) is only done when the work is.
   */
  ack?: string | undefined;
}

/** What a node offers; sent on connect, on request (DISCOVER) and when its services change. */
export interface InfoPacket extends Base, NodeAnnouncement {}

export interface HeartbeatPacket extends Base {
  instanceID: string;
  /** CPU use of the node's process, 0-100 (per core). */
  cpu: number;
}

export interface PingPacket extends Base {
  id: string;
  time: number;
}

export interface PongPacket extends Base {
  id: string;
  time: number;
  arrived: number;
}

/** The caller no longer wants the answer to request `id`: the handler's `ctx.signal` aborts. */
export interface CancelPacket extends Base {
  id: string;
}

/**
 * One piece of a byte stream (a call's params or result), for request `id`. Encoded in binary,
 * not by the serializer (see `streams/wire.ts`): the bytes travel as they are.
 */
export interface StreamPacket extends Base {
  id: string;
  /** 0, 1, 2... per stream: a gap or repeat is a broken stream. */
  seq: number;
  /** {@link STREAM_END} and {@link STREAM_ERROR} bits. */
  flags: number;
  /** The bytes; with STREAM_ERROR, the JSON of the plain error. */
  data: Uint8Array;
}

/** The last piece of a stream. */
export const STREAM_END = 1;
/** The stream failed on the sender's side: `data` is the error. */
export const STREAM_ERROR = 2;

/** The receiver of stream `id` took `credit` more pieces, or (`cancel`) wants no more. */
export interface StreamAckPacket extends Base {
  id: string;
  credit: number;
  cancel?: boolean | undefined;
}

export type DiscoverPacket = Base;
export type DisconnectPacket = Base;

/** The body type of each packet type. */
export interface PacketBodies {
  [PacketType.REQUEST]: RequestPacket;
  [PacketType.RESPONSE]: ResponsePacket;
  [PacketType.EVENT]: EventPacket;
  [PacketType.DISCOVER]: DiscoverPacket;
  [PacketType.INFO]: InfoPacket;
  [PacketType.HEARTBEAT]: HeartbeatPacket;
  [PacketType.PING]: PingPacket;
  [PacketType.PONG]: PongPacket;
  [PacketType.DISCONNECT]: DisconnectPacket;
  [PacketType.CANCEL]: CancelPacket;
  [PacketType.STREAM]: StreamPacket;
  [PacketType.STREAM_ACK]: StreamAckPacket;
}

/** A decoded packet: its type and body. */
export type Packet = { [T in PacketType]: { type: T; body: PacketBodies[T] } }[PacketType];
