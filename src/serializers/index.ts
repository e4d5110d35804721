import { ConfigurationError } from "../errors/index.js";
import { jsonSerializer } from "./json.js";
import { msgpackSerializer } from "./msgpack.js";
import type { Serializer } from "./serializer.js";

export {
  DEFAULT_MAX_DEPTH,
  encodeWithin,
  jsonTooDeep,
  parseJsonLimited,
  valueTooDeep,
} from "./depth.js";
export type { Serializer, SerializerOptions } from "./serializer.js";

const known: Record<string, () => Serializer> = {
  json: jsonSerializer,
  msgpack: msgpackSerializer,
};

/** Resolves a serializer by name (`json`, `msgpack`) or returns the one given. */
export function resolveSerializer(option: string | Serializer | undefined): Serializer {
  if (option === undefined) return jsonSerializer();
  if (typeof option !== "string") return option;
  const make = known[option];
  if (make === undefined) {
    throw new ConfigurationError(
      `Unknown serializer '${option}'. Known: ${Object.keys(known).join(", ")}.`,
      "UNKNOWN_SERIALIZER",
    );
  }
  return make();
}

/** The name of the serializer with a header code, for log lines about mismatched nodes. */
export function serializerName(code: number): string {
  return code === 1 ? "json" : code === 2 ? "msgpack" : `unknown (code ${code})`;
}
