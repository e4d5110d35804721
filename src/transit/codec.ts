import { BadPacketError } from "../errors/index.js";
import type { Serializer } from "../serializers/index.js";
import { type Packet, type PacketBodies, PacketType, PROTOCOL_VERSION } from "./packets.js";

/** Bytes before the body: protocol version, serializer code, packet type. */
const HEADER = 3;
const TYPES = new Set<number>(Object.values(PacketType));

/** Why a packet was refused (`BAD_PACKET`); transit logs it and drops the packet. */
export { BadPacketError as PacketError } from "../errors/index.js";

/** Encodes a packet: a 3-byte header then the serialized body. */
export function encodePacket<T extends PacketType>(
  serializer: Serializer,
  type: T,
  body: PacketBodies[T],
): Uint8Array {
  if (serializer.encodePrefixed !== undefined) {
    return serializer.encodePrefixed(
      String.fromCharCode(PROTOCOL_VERSION, serializer.code, type),
      body,
    );
  }
  const payload = serializer.encode(body);
  const out = new Uint8Array(HEADER + payload.length);
  out[0] = PROTOCOL_VERSION;
  out[1] = serializer.code;
  out[2] = type;
  out.set(payload, HEADER);
  return out;
}

/**
 * Decodes and checks a packet. Throws {@link BadPacketError} for another protocol version, another
 * serializer, an unknown type, a body that does not decode, or a body without its sender.
 */
export function decodePacket(serializer: Serializer, bytes: Uint8Array): Packet {
  if (bytes.length < HEADER) throw new BadPacketError("Packet too short", "short");
  const [version, code, type] = [bytes[0]!, bytes[1]!, bytes[2]!];
  if (version !== PROTOCOL_VERSION) {
    throw new BadPacketError(
      `Protocol version ${version} is not supported (this node speaks ${PROTOCOL_VERSION})`,
      "version",
      { version },
    );
  }
  if (code !== serializer.code)
    throw new BadPacketError("Serializer mismatch", "serializer", { code });
  if (!TYPES.has(type)) throw new BadPacketError(`Unknown packet type ${type}`, "type", { type });
  let body: unknown;
  try {
    body = serializer.decodeFrom
      ? serializer.decodeFrom(bytes, HEADER)
      : serializer.decode(bytes.subarray(HEADER));
  } catch (cause) {
    throw new BadPacketError(`Packet body does not decode: ${(cause as Error).message}`, "body");
  }
  if (
    typeof body !== "object" ||
    body === null ||
    typeof (body as { sender?: unknown }).sender !== "string"
  ) {
    throw new BadPacketError("Packet body has no sender", "sender");
  }
  if (!hasFields(type, body as Record<string, unknown>)) {
    throw new BadPacketError(`Packet of type ${type} is missing fields`, "fields", { type });
  }
  return { type, body } as Packet;
}

/** The fields transit relies on, per type: a packet without them is dropped, not half-handled. */
function hasFields(type: number, body: Record<string, unknown>): boolean {
  switch (type) {
    case PacketType.REQUEST:
      return (
        typeof body.id === "string" &&
        typeof body.action === "string" &&
        typeof body.level === "number"
      );
    case PacketType.RESPONSE:
      return typeof body.id === "string" && typeof body.ok === "boolean";
    case PacketType.EVENT:
      return typeof body.event === "string" && (body.groups === null || Array.isArray(body.groups));
    case PacketType.INFO:
      return typeof body.instanceID === "string" && Array.isArray(body.services);
    case PacketType.PING:
    case PacketType.PONG:
      return typeof body.id === "string" && typeof body.time === "number";
    default:
      return true;
  }
}
