import { errorClassByName } from "./catalogue.js";
import { FlotillaError } from "./errors.js";

/** An error as plain data: what crosses the wire. */
export interface PlainError {
  name: string;
  message: string;
  code: string;
  status: number;
  retryable: boolean;
  data?: unknown;
  nodeID?: string;
  stack?: string;
  cause?: PlainError;
}

const MAX_CAUSE_DEPTH = 8;
/** Keys that `Error` itself keeps non-enumerable. */
const HIDDEN = new Set(["name", "message", "stack", "cause"]);

/**
 * Turns any thrown value into plain, serializable data. Non-Flotilla errors become code
 * `INTERNAL_ERROR` with status 500 and keep their name and message.
 */
export function errorToPlain(err: unknown, depth = 0): PlainError {
  if (!(err instanceof Error)) {
    return {
      name: "Error",
      message: String(err),
      code: "INTERNAL_ERROR",
      status: 500,
      retryable: false,
    };
  }
  const fl = err instanceof FlotillaError ? err : undefined;
  const plain: PlainError = {
    name: err.name,
    message: err.message,
    code: fl?.code ?? stringCode(err) ?? "INTERNAL_ERROR",
    status: fl?.status ?? 500,
    retryable: fl?.retryable ?? false,
  };
  if (fl?.data !== undefined) plain.data = fl.data;
  if (fl?.nodeID !== undefined) plain.nodeID = fl.nodeID;
  if (err.stack !== undefined) plain.stack = err.stack;
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH)
    plain.cause = errorToPlain(err.cause, depth + 1);
  return plain;
}

/**
 * Rebuilds an error from {@link errorToPlain}'s output as an instance of the class registered
 * under its name (a {@link FlotillaError} when the name is unknown), without running constructors.
 */
export function errorFromPlain(plain: PlainError): FlotillaError {
  const cls = errorClassByName(plain.name);
  const proto =
    cls && cls.prototype instanceof FlotillaError ? cls.prototype : FlotillaError.prototype;
  const err = Object.create(proto) as FlotillaError;
  const fields: Record<string, unknown> = {
    name: plain.name,
    message: plain.message,
    code: plain.code,
    status: plain.status,
    retryable: plain.retryable,
    data: plain.data,
    nodeID: plain.nodeID,
    stack: plain.stack ?? `${plain.name}: ${plain.message}`,
  };
  if (plain.cause !== undefined) fields.cause = errorFromPlain(plain.cause);
  for (const [key, value] of Object.entries(fields)) {
    const enumerable = !HIDDEN.has(key);
    Object.defineProperty(err, key, { value, writable: true, configurable: true, enumerable });
  }
  return err;
}

function stringCode(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}
