import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * A stream between nodes (a call's params or result) broke: the node at the other end left,
 * cancelled it, or sent pieces out of order or beyond the credit it was given. The receiving
 * stream is destroyed with this error; whatever arrived before it is kept.
 */
export class StreamBrokenError extends FlotillaError {
  constructor(reason: string, options: FlotillaErrorOptions = {}) {
    super(`The stream broke: ${reason}.`, "STREAM_BROKEN", 502, {
      ...options,
      data: options.data ?? { reason },
    });
  }
}

/**
 * A stream can only go to a known node: a call whose params are a stream cannot be sent through
 * a broker-balanced queue (`balancing: "broker"`), where the broker picks the node later.
 */
export class StreamNotRoutableError extends FlotillaError {
  constructor(action: string, options: FlotillaErrorOptions = {}) {
    super(
      `Call to '${action}' has a stream as params, which needs registry balancing (balancing: "registry").`,
      "STREAM_NOT_ROUTABLE",
      400,
      { ...options, data: options.data ?? { action } },
    );
  }
}
