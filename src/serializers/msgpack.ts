import { createRequire } from "node:module";
import { FlotillaError } from "../errors/index.js";
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

/**
 * MessagePack through `msgpackr`: smaller packets and faster for binary-heavy payloads. The
 * package is an optional peer dependency, loaded only when this serializer is chosen.
 */
export function msgpackSerializer(): Serializer {
  let mod: MsgpackrModule;
  try {
    mod = createRequire(import.meta.url)("msgpackr") as MsgpackrModule;
  } catch (cause) {
    throw new FlotillaError(
      "The msgpack serializer needs the 'msgpackr' package: npm install msgpackr",
      "MISSING_DEPENDENCY",
      500,
      { cause, data: { package: "msgpackr" } },
    );
  }
  // Records off: every node must decode every packet without shared structure state.
  const packr = new mod.Packr({ useRecords: false, moreTypes: false });
  return {
    name: "msgpack",
    code: 2,
    encode: (value) => packr.pack(value),
    decode: (bytes) => packr.unpack(bytes),
  };
}
