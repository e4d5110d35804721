import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * A value nests objects and arrays deeper than the serializer allows (`maxDepth`, default 512).
 * Raised when encoding (a call's params, an event's payload) and when decoding, so an over-deep
 * value is refused with this code instead of overflowing the stack somewhere downstream.
 *
 * @example
 * ```ts
 * try { await broker.call("a.b", deep); } catch (err) { err.code; } // "PAYLOAD_TOO_DEEP"
 * ```
 */
export class PayloadTooDeepError extends FlotillaError {
  constructor(maxDepth: number, options: FlotillaErrorOptions = {}) {
    super(
      `The payload nests objects or arrays deeper than ${maxDepth} levels.`,
      "PAYLOAD_TOO_DEEP",
      422,
      { ...options, data: options.data ?? { maxDepth } },
    );
  }
}
