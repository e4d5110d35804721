import { FlotillaError } from "../../errors/errors.js";
import { NamekoRemoteError } from "../../errors/interop.js";

/**
 * Errors as nameko serializes them (`nameko.exceptions.serialize`): `exc_type` (the class name),
 * `exc_path` (its dotted module path), `exc_args` and `value` (the text). nameko's caller raises
 * a `RemoteError(exc_type, value)`, or the class itself when `exc_path` names one registered with
 * `@deserialize_to_instance` (nameko's `MethodNotFound`, `IncorrectSignature`, `MalformedRequest`).
 */

/** One serialized exception, as it travels in a reply's `error` field. */
export interface NamekoWireError {
  exc_type: string;
  exc_path: string;
  exc_args: unknown[];
  value: string;
}

/** nameko's request errors, raised on the callee before any handler runs. */
export type RequestErrorType = "MethodNotFound" | "IncorrectSignature" | "MalformedRequest";

/**
 * One of nameko's own request errors, with the `exc_path` nameko's caller turns back into the
 * same exception class (so Python code catching `MethodNotFound` works against us too).
 */
export function requestError(type: RequestErrorType, text: string): NamekoWireError {
  return { exc_type: type, exc_path: `nameko.exceptions.${type}`, exc_args: [text], value: text };
}

/** nameko's answer when a result cannot be serialized. */
export function unserializableError(what: string): NamekoWireError {
  const text = `Unserializable value: \`${what}\``;
  return {
    exc_type: "UnserializableValueError",
    exc_path: "nameko.exceptions.UnserializableValueError",
    exc_args: [],
    value: text,
  };
}

/**
 * A Flotilla error as nameko sees it: our `code` is the `exc_type` (Python's `RemoteError`
 * shows it), `exc_path` is `flotilla.<code>`, and `exc_args` is `[message]`, plus `data` when it
 * has any. Any other thrown value is `INTERNAL_ERROR` with its text.
 */
export function toNamekoError(err: unknown): NamekoWireError {
  if (err instanceof FlotillaError) {
    const args: unknown[] =
      err.data === undefined ? [err.message] : [err.message, jsonSafe(err.data)];
    return {
      exc_type: err.code,
      exc_path: `flotilla.${err.code}`,
      exc_args: args,
      value: err.message,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    exc_type: "INTERNAL_ERROR",
    exc_path: "flotilla.INTERNAL_ERROR",
    exc_args: [message],
    value: message,
  };
}

/** `value` as JSON would carry it, or its text when it cannot be. */
function jsonSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value) ?? "null");
  } catch {
    return String(value);
  }
}

/**
 * A reply's `error` field as a Flotilla error: nameko's serialized exception becomes a
 * {@link NamekoRemoteError} with its type, path and args. Fields of the wrong shape are read
 * as what nameko's own `deserialize` would make of them (missing text is empty).
 */
export function fromNamekoError(error: unknown, action: string): NamekoRemoteError {
  const fields = (typeof error === "object" && error !== null ? error : {}) as Record<
    string,
    unknown
  >;
  const excType = typeof fields.exc_type === "string" ? fields.exc_type : "RemoteError";
  const excPath = typeof fields.exc_path === "string" ? fields.exc_path : "";
  const excArgs = Array.isArray(fields.exc_args) ? fields.exc_args : [];
  const value = typeof fields.value === "string" ? fields.value : String(fields.value ?? "");
  const message = value === "" ? `${excType} raised by ${action}` : value;
  return new NamekoRemoteError(message, { excType, excPath, excArgs });
}
