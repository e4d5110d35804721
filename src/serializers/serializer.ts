/** Turns packet bodies into bytes and back. Chosen per broker; every node of a cluster must agree. */
export interface Serializer {
  /** Name used in options and log lines: `json`, `msgpack`. */
  readonly name: string;
  /** One-byte code written in every packet header, so a mismatch is detected, not misparsed. */
  readonly code: number;
  /**
   * The deepest nesting of objects and arrays it writes or reads; deeper values are refused with
   * `PAYLOAD_TOO_DEEP` (the built-in serializers; default 512). A serializer of your own should
   * bound its depth too: see `valueTooDeep` and `encodeWithin`.
   */
  readonly maxDepth?: number;
  encode(value: unknown): Uint8Array;
  /**
   * Encodes `value` after an ASCII `prefix` in one buffer: saves a copy per packet for text
   * formats. Optional; transit falls back to `encode` and a copy.
   */
  encodePrefixed?(prefix: string, value: unknown): Uint8Array;
  /** Decodes from `offset` on, without slicing first. Optional; transit falls back to `decode`. */
  decodeFrom?(bytes: Uint8Array, offset: number): unknown;
  /** Throws on bytes it cannot read; transit drops such packets. */
  decode(bytes: Uint8Array): unknown;
}

/** Options of the built-in serializers. */
export interface SerializerOptions {
  /** The deepest nesting of objects and arrays accepted either way. Default 512. */
  maxDepth?: number;
}
