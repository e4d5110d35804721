import { PayloadTooDeepError } from "../errors/index.js";
import { optionalDependencySync } from "../util/optional.js";
import { DEFAULT_MAX_DEPTH, encodeWithin, valueTooDeep } from "./depth.js";
import type { Serializer, SerializerOptions } from "./serializer.js";

interface MsgpackrModule {
  Packr: new (options: {
    useRecords: boolean;
    moreTypes: boolean;
  }) => {
    pack(value: unknown): Uint8Array;
    unpack(bytes: Uint8Array): unknown;
  };
}

// Loaded synchronously: the broker resolves its serializer in its constructor (see
// `optionalDependencySync` for why).
const loadMsgpackr = optionalDependencySync<MsgpackrModule>("msgpackr", "The msgpack serializer");

/**
 * MessagePack through `msgpackr`: smaller packets and faster for binary-heavy payloads. The
 * package is an optional peer dependency, loaded only when this serializer is chosen; without
 * it, this fails with `MISSING_DEPENDENCY` and the `npm install msgpackr` line. Values nested
 * deeper than `maxDepth` are refused both ways with `PAYLOAD_TOO_DEEP`.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ transporter: "tcp://", serializer: "msgpack" });
 * ```
 */
export function msgpackSerializer(options: SerializerOptions = {}): Serializer {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  // Records off: every node must decode every packet without shared structure state.
  const packr = new (loadMsgpackr().Packr)({ useRecords: false, moreTypes: false });
  // Every level of nesting takes at least one byte, so fewer bytes than the limit cannot be over.
  const check = (value: unknown, size: number): void => {
    if (size > maxDepth && valueTooDeep(value, maxDepth)) throw new PayloadTooDeepError(maxDepth);
  };
  return {
    name: "msgpack",
    code: 2,
    maxDepth,
    encode: (value) => {
      const bytes = encodeWithin(value, maxDepth, () => packr.pack(value));
      check(value, bytes.length);
      return bytes;
    },
    decode: (bytes) => {
      // msgpackr reads recursively: bytes nested past the stack end in a RangeError.
      let value: unknown;
      try {
        value = packr.unpack(bytes);
      } catch (err) {
        if (err instanceof RangeError && /call stack/i.test(err.message)) {
          throw new PayloadTooDeepError(maxDepth);
        }
        throw err;
      }
      check(value, bytes.length);
      return value;
    },
  };
}
