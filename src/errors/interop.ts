import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * Errors of the bridges to other frameworks' clusters (nameko on RabbitMQ): what a peer written
 * in another language answered, kept with its own type so callers can branch on it.
 */

/** What nameko says about an exception raised by a nameko service (its serialized form). */
export interface NamekoErrorData {
  /** The Python exception's class name, e.g. `ValueError`, `MethodNotFound`. */
  excType: string;
  /** Its dotted module path, e.g. `builtins.ValueError`, `nameko.exceptions.MethodNotFound`. */
  excPath: string;
  /** The exception's arguments, made JSON-safe by nameko. */
  excArgs: unknown[];
}

/** The statuses of nameko's own request errors; any other Python exception is a 500. */
const STATUS_OF: Record<string, number> = {
  MethodNotFound: 404,
  IncorrectSignature: 400,
  MalformedRequest: 400,
  BadRequest: 400,
};

/**
 * A nameko service raised an exception while handling a call from Flotilla (nameko's
 * `RemoteError`, seen from TypeScript). `message` is the exception's text (`value`), `data`
 * holds `excType`, `excPath` and `excArgs`. Status 404 for `MethodNotFound`, 400 for
 * `IncorrectSignature` and `MalformedRequest`, else 500.
 *
 * @example
 * ```ts
 * try { await broker.call("greeter.hello", { name: "" }); }
 * catch (err) {
 *   if (err instanceof NamekoRemoteError && err.data.excType === "ValueError") { ... }
 * }
 * ```
 */
export class NamekoRemoteError extends FlotillaError {
  declare readonly data: NamekoErrorData;
  constructor(message: string, data: NamekoErrorData, options: FlotillaErrorOptions = {}) {
    super(message, "NAMEKO_REMOTE_ERROR", STATUS_OF[data.excType] ?? 500, { ...options, data });
  }
}
