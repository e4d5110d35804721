import type { Serializer } from "./serializer.js";

const decoder = new TextDecoder();

/** JSON: the default. Readable on the wire, and fast enough in V8 for most payloads. */
export function jsonSerializer(): Serializer {
  return {
    name: "json",
    code: 1,
    encode: (value) => Buffer.from(JSON.stringify(value)),
    encodePrefixed: (prefix, value) => Buffer.from(prefix + JSON.stringify(value)),
    decode: (bytes) => JSON.parse(decoder.decode(bytes)),
    decodeFrom: (bytes, offset) =>
      JSON.parse(
        Buffer.isBuffer(bytes)
          ? bytes.toString("utf8", offset)
          : decoder.decode(bytes.subarray(offset)),
      ),
  };
}
