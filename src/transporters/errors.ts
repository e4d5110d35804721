import { PacketTooLargeError, TransporterNotConnectedError } from "../errors/index.js";

// The errors every transporter raises, made in one place so that the same failure reads the
// same on tcp, nats, amqp and redis. Each returns the error: a `publish()` hands it to
// `Promise.reject`, never throws it synchronously; `connect()` and `subscribe()` are async and
// may throw it.

/**
 * The transporter has no connection to its server (or peers) right now: retryable, 503
 * (`TRANSPORTER_NOT_CONNECTED`). `why` replaces "is not connected" in the message; `cause` is
 * kept as the error's cause.
 *
 * @example
 * ```ts
 * if (run === undefined) return Promise.reject(notConnected("nats"));
 * reject(notConnected("amqp", { why: "lost its connection before the confirm", cause }));
 * ```
 */
export function notConnected(
  transporter: string,
  options: { why?: string; cause?: unknown } = {},
): TransporterNotConnectedError {
  const why = options.why ?? "is not connected";
  return new TransporterNotConnectedError(`The ${transporter} transporter ${why}.`, {
    cause: options.cause,
  });
}

/**
 * A connection to the server could not be made (`connect()` rejects with it): retryable, 503
 * (`TRANSPORTER_NOT_CONNECTED`), naming the server so a wrong URL is plain to see.
 *
 * @example
 * ```ts
 * throw connectFailed(`NATS at ${servers.join(", ")}`, cause, { servers });
 * ```
 */
export function connectFailed(
  server: string,
  cause: unknown,
  data?: Record<string, unknown>,
): TransporterNotConnectedError {
  return new TransporterNotConnectedError(`Could not connect to ${server}: ${messageOf(cause)}`, {
    cause,
    data,
  });
}

/**
 * The client refused a publish (it is closing, draining, or lost its socket meanwhile): retryable,
 * 503 (`TRANSPORTER_NOT_CONNECTED`), as the caller can do nothing but try again later.
 *
 * @example
 * ```ts
 * return client.publish(topic, bytes).catch((err) => Promise.reject(publishFailed("redis", err)));
 * ```
 */
export function publishFailed(transporter: string, cause: unknown): TransporterNotConnectedError {
  return new TransporterNotConnectedError(
    `The ${transporter} transporter could not publish: ${messageOf(cause)}`,
    { cause },
  );
}

/**
 * A topic or group name longer than the transporter can carry (a u16 length on tcp, AMQP's
 * 255-byte routing keys): `PACKET_TOO_LARGE` (413), with the name in `data`.
 *
 * @example
 * ```ts
 * if (Buffer.byteLength(topic) > 255) throw nameTooLong("topic", topic, 255);
 * ```
 */
export function nameTooLong(
  what: "topic" | "group" | "event",
  name: string,
  limit: number,
): PacketTooLargeError {
  const size = Buffer.byteLength(name);
  return new PacketTooLargeError(size, limit, { data: { size, limit, [what]: name } });
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
