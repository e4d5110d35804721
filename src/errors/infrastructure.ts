import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * Errors of the node's own infrastructure: configuration (transporter URLs, serializers,
 * strategies), optional packages, the transporter's connection and durable publishing. Each has
 * one class, so the code, status and `retryable` of a failure never depend on where it was raised.
 */

/** A setting names something that does not exist or cannot work (a URL, a serializer, a mode). */
export class ConfigurationError extends FlotillaError {
  constructor(message: string, code: ConfigurationCode, options: FlotillaErrorOptions = {}) {
    super(message, code, 500, options);
  }
}

/** The configuration problems a node reports at construction or start. */
export type ConfigurationCode =
  | "INVALID_TRANSPORTER_URL"
  | "UNKNOWN_TRANSPORTER"
  | "UNKNOWN_SERIALIZER"
  | "UNKNOWN_STRATEGY"
  | "BALANCING_NOT_SUPPORTED"
  | "JETSTREAM_NOT_ENABLED"
  | "INVALID_SECRET"
  | "INVALID_DATABASE_URL"
  | "INVALID_TRACING_CONFIG"
  | "INVALID_DISCOVERY_URL"
  | "UNKNOWN_DISCOVERER"
  | "INVALID_NAMEKO_OPTIONS"
  | "NOT_REPLACEABLE";

/** An optional package (a broker client, msgpackr) is not installed; the message says what to run. */
export class MissingDependencyError extends FlotillaError {
  constructor(pkg: string, purpose: string, options: FlotillaErrorOptions = {}) {
    super(
      `${purpose} needs the '${pkg}' package, which is not installed. Run:\nnpm install ${pkg}`,
      "MISSING_DEPENDENCY",
      500,
      { ...options, data: options.data ?? { package: pkg } },
    );
  }
}

/** The transporter has no connection to its server or peers right now; try again later. */
export class TransporterNotConnectedError extends FlotillaError {
  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, "TRANSPORTER_NOT_CONNECTED", 503, { retryable: true, ...options });
  }
}

/** A packet (or message) is larger than `maxPacketSize`; it was not sent. */
export class PacketTooLargeError extends FlotillaError {
  constructor(size: number, limit: number, options: FlotillaErrorOptions = {}) {
    super(
      `A packet of ${size} bytes exceeds the limit of ${limit} bytes (maxPacketSize).`,
      "PACKET_TOO_LARGE",
      413,
      { ...options, data: options.data ?? { size, limit } },
    );
  }
}

/** The message broker did not take a durable event (not confirmed, or refused). */
export class DurablePublishError extends FlotillaError {
  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, "DURABLE_PUBLISH_FAILED", 503, { retryable: true, ...options });
  }
}

/** JetStream is enabled on the server but cannot answer now (no quorum, stream unavailable). */
export class JetStreamUnavailableError extends FlotillaError {
  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, "JETSTREAM_UNAVAILABLE", 503, { retryable: true, ...options });
  }
}

/** A handler's result cannot be encoded for the wire (a cycle, a BigInt, ...). */
export class ResultNotSerializableError extends FlotillaError {
  constructor(action: string, reason = "", options: FlotillaErrorOptions = {}) {
    const why = reason === "" ? "" : `: ${reason}`;
    super(`Result of '${action}' cannot be serialized${why}`, "RESULT_NOT_SERIALIZABLE", 500, {
      ...options,
      data: options.data ?? { action },
    });
  }
}

/** No dead letter has this ID (already replayed, or never there). */
export class DeadLetterNotFoundError extends FlotillaError {
  constructor(id: string, options: FlotillaErrorOptions = {}) {
    super(`No dead letter '${id}'.`, "DEAD_LETTER_NOT_FOUND", 404, {
      ...options,
      data: options.data ?? { id },
    });
  }
}

/** A packet from another node does not decode or does not have the shape of its type. */
export class BadPacketError extends FlotillaError {
  constructor(message: string, reason: string, data: Record<string, unknown> = {}) {
    super(message, "BAD_PACKET", 400, { data: { reason, ...data } });
  }
}
