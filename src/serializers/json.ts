import { PayloadTooDeepError } from "../errors/index.js";
import { DEFAULT_MAX_DEPTH, encodeWithin, jsonTooDeep } from "./depth.js";
import type { Serializer, SerializerOptions } from "./serializer.js";

const decoder = new TextDecoder();

/**
 * JSON: the default. Readable on the wire, and fast enough in V8 for most payloads. Values nested
 * deeper than `maxDepth` are refused both ways with `PAYLOAD_TOO_DEEP`.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ serializer: jsonSerializer({ maxDepth: 64 }) });
 * ```
 */
export function jsonSerializer(options: SerializerOptions = {}): Serializer {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const stringify = (value: unknown): string => {
    const text = encodeWithin(value, maxDepth, () => JSON.stringify(value));
    // What `toJSON` methods return is only seen in the text.
    if (text !== undefined && jsonTooDeep(text, maxDepth)) throw new PayloadTooDeepError(maxDepth);
    return text;
  };
  const parse = (bytes: Uint8Array, offset: number): unknown => {
    if (jsonTooDeep(bytes, maxDepth, offset)) throw new PayloadTooDeepError(maxDepth);
    return JSON.parse(
      Buffer.isBuffer(bytes)
        ? bytes.toString("utf8", offset)
        : decoder.decode(bytes.subarray(offset)),
    );
  };
  return {
    name: "json",
    code: 1,
    maxDepth,
    encode: (value) => Buffer.from(stringify(value)),
    encodePrefixed: (prefix, value) => Buffer.from(prefix + stringify(value)),
    decode: (bytes) => parse(bytes, 0),
    decodeFrom: parse,
  };
}
