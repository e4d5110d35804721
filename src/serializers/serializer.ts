/** Turns packet bodies into bytes and back. Chosen per broker; every node of a cluster must agree. */
export interface Serializer {
  /** Name used in options and log lines: `json`, `msgpack`. */
  readonly name: string;
  /** One-byte code written in every packet header, so a mismatch is detected, not misparsed. */
  readonly code: number;
  encode(value: unknown): Uint8Array;
  /** Throws on bytes it cannot read; transit drops such packets. */
  decode(bytes: Uint8Array): unknown;
}
