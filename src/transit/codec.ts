import { BadPacketError, PayloadTooDeepError } from "../errors/index.js";
import type { Serializer } from "../serializers/index.js";
import { type Packet, type PacketBodies, PacketType, PROTOCOL_VERSION } from "./packets.js";
import { decodeStreamBody, encodeStreamPacket } from "./streams/wire.js";
import { checkBody } from "./validate.js";

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
  if (type === PacketType.STREAM) {
    return encodeStreamPacket(serializer.code, body as PacketBodies[typeof PacketType.STREAM]);
  }
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
 * Decodes and checks a packet, so nothing acts on a stranger's bytes before they have the shape
 * of their type. Throws {@link BadPacketError} with `data.reason`: `short`, `version` (another
 * protocol version), `serializer` (another serializer), `type` (unknown), `body` (does not
 * decode), `depth` (nested deeper than the serializer's `maxDepth`), `sender` (none) or
 * `fields` (a field of the wrong type or over its bound: see `validate.ts`).
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
    body =
      type === PacketType.STREAM
        ? decodeStreamBody(bytes)
        : serializer.decodeFrom
          ? serializer.decodeFrom(bytes, HEADER)
          : serializer.decode(bytes.subarray(HEADER));
  } catch (cause) {
    if (cause instanceof PayloadTooDeepError) {
      throw new BadPacketError(`Packet body is too deep: ${cause.message}`, "depth", { type });
    }
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new BadPacketError(`Packet body does not decode: ${why.slice(0, 200)}`, "body", { type });
  }
  if (
    typeof body !== "object" ||
    body === null ||
    typeof (body as { sender?: unknown }).sender !== "string"
  ) {
    throw new BadPacketError("Packet body has no sender", "sender", { type });
  }
  const problem = checkBody(type as PacketType, body);
  if (problem !== undefined) {
    const name = NAMES.get(type) ?? String(type);
    const sender = (body as { sender: string }).sender.slice(0, 256);
    throw new BadPacketError(`Malformed ${name} packet: body${problem}`, "fields", {
      type,
      sender,
    });
  }
  return { type, body } as Packet;
}

const NAMES = new Map<number, string>(Object.entries(PacketType).map(([k, v]) => [v, k]));
