import { optionalDependencySync } from "../util/optional.js";
import type { Serializer } from "./serializer.js";

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
 * it, this fails with `MISSING_DEPENDENCY` and the `npm install msgpackr` line.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ transporter: "tcp://", serializer: "msgpack" });
 * ```
 */
export function msgpackSerializer(): Serializer {
  // Records off: every node must decode every packet without shared structure state.
  const packr = new (loadMsgpackr().Packr)({ useRecords: false, moreTypes: false });
  return {
    name: "msgpack",
    code: 2,
    encode: (value) => packr.pack(value),
    decode: (bytes) => packr.unpack(bytes),
  };
}
