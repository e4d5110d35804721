import { BadPacketError } from "../../errors/index.js";
import { PacketType, PROTOCOL_VERSION, type StreamPacket } from "../packets.js";

// A STREAM packet carries bytes, so it is not put through the serializer (JSON would turn 64 KB
// into an array of numbers or base64): after the usual 3-byte header come the sender and the
// request ID (each a 2-byte length and UTF-8), the sequence number (4 bytes), the flags (1 byte),
// and the piece's bytes as they are.

const HEADER = 3;

/** Encodes a STREAM packet (the serializer's code still goes in the header). */
export function encodeStreamPacket(serializerCode: number, body: StreamPacket): Uint8Array {
  const sender = Buffer.from(body.sender, "utf8");
  const id = Buffer.from(body.id, "utf8");
  const out = Buffer.allocUnsafe(HEADER + 2 + sender.length + 2 + id.length + 5 + body.data.length);
  out[0] = PROTOCOL_VERSION;
  out[1] = serializerCode;
  out[2] = PacketType.STREAM;
  let at = HEADER;
  at = out.writeUInt16BE(sender.length, at);
  at += sender.copy(out, at);
  at = out.writeUInt16BE(id.length, at);
  at += id.copy(out, at);
  at = out.writeUInt32BE(body.seq >>> 0, at);
  at = out.writeUInt8(body.flags, at);
  out.set(body.data, at);
  return out;
}

/**
 * Decodes a STREAM body from `bytes` after the header. Throws {@link BadPacketError} (`body`) when
 * the lengths do not add up; the field shapes are then checked like every other packet's.
 */
export function decodeStreamBody(bytes: Uint8Array): StreamPacket {
  const buf = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = HEADER;
  const text = (): string => {
    if (at + 2 > buf.length) throw short();
    const length = buf.readUInt16BE(at);
    at += 2;
    if (at + length > buf.length) throw short();
    const value = buf.toString("utf8", at, at + length);
    at += length;
    return value;
  };
  const sender = text();
  const id = text();
  if (at + 5 > buf.length) throw short();
  const seq = buf.readUInt32BE(at);
  const flags = buf.readUInt8(at + 4);
  // A copy: a transporter may reuse the memory it received the packet in.
  return { sender, id, seq, flags, data: Buffer.from(buf.subarray(at + 5)) };
}

function short(): BadPacketError {
  return new BadPacketError("STREAM packet is cut short", "body", { type: PacketType.STREAM });
}
