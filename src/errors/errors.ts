/**
 * The error catalogue. Every error a Flotilla node raises is a {@link FlotillaError} with a stable
 * `code`, an HTTP-like `status` and a `retryable` flag, so callers (and the gateway) can act on it
 * without parsing messages. `docs/errors.md` lists the same table; a test keeps them in step.
 */

/** Options every Flotilla error accepts. */
export interface FlotillaErrorOptions {
  /** Machine-readable details (validation issues, the action name, ...). Must be serializable. */
  data?: unknown;
  /** The error that caused this one; it crosses the wire too. */
  cause?: unknown;
  /** Overrides the class default. */
  retryable?: boolean;
  /** The node that raised the error, when it came from another node. */
  nodeID?: string;
}

/** Marks Flotilla's errors, whichever copy of the package made them (`Symbol.for`: process-wide). */
const BRAND: unique symbol = Symbol.for("flotilla.error") as never;

/**
 * Base class of every Flotilla error.
 *
 * @example
 * ```ts
 * throw new FlotillaError("Out of stock", "OUT_OF_STOCK", 409, { data: { sku: "A-1" } });
 * ```
 */
export class FlotillaError extends Error {
  /** Stable, upper-case identifier of the failure, e.g. `VALIDATION_ERROR`. */
  readonly code: string;
  /** HTTP-like status: 4xx for the caller's fault, 5xx for the callee's. */
  readonly status: number;
  /** Whether the same call may succeed when tried again (possibly on another node). */
  readonly retryable: boolean;
  /** Machine-readable details. */
  readonly data: unknown;
  /** The node that raised it, when known. */
  nodeID: string | undefined;

  constructor(
    message: string,
    code = "INTERNAL_ERROR",
    status = 500,
    options: FlotillaErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.retryable = options.retryable ?? false;
    this.data = options.data;
    this.nodeID = options.nodeID;
  }

  /**
   * `instanceof` that also knows the errors of another copy of Flotilla in the same process (a
   * service file that resolves `flotilla` to another build than the CLI running it): both carry
   * one registered symbol. Within one copy this is the usual prototype check; across copies a
   * subclass matches by name (`ValidationError` is `ValidationError` in either copy).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== "object" || value === null) return false;
    if ((value as { [BRAND]?: unknown })[BRAND] !== true) return false;
    return this === FlotillaError || (value as Error).name === this.name;
  }
}

// On the prototype, so errors rebuilt from the wire (`Object.create(proto)`) carry it too.
Object.defineProperty(FlotillaError.prototype, BRAND, { value: true });

/** One problem found by a schema, with the path to the offending value. */
export interface ValidationIssue {
  /** Keys from the root of the params to the bad value, e.g. `["items", 0, "qty"]`. */
  path: (string | number)[];
  message: string;
}

/** Params (or an event payload) did not match the schema. `data` holds the issues. */
export class ValidationError extends FlotillaError {
  declare readonly data: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[], options: FlotillaErrorOptions = {}) {
    super(message, "VALIDATION_ERROR", 422, { ...options, data: issues });
  }
}

/**
 * An action's result did not match its `returns` schema: the callee broke its own contract, so
 * the call fails on the node that served it (status 500) instead of handing callers a shape
 * they were not promised. `data` holds the issues, paths from the root of the result.
 */
export class ResultInvalidError extends FlotillaError {
  declare readonly data: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[], options: FlotillaErrorOptions = {}) {
    super(message, "RESULT_INVALID", 500, { ...options, data: issues });
  }
}

/** No service in the cluster offers the action (or it is not visible to this caller). */
export class ServiceNotFoundError extends FlotillaError {
  constructor(action: string, options: FlotillaErrorOptions = {}) {
    super(`Action '${action}' is not found.`, "SERVICE_NOT_FOUND", 404, {
      ...options,
      data: options.data ?? { action },
    });
  }
}

/** The action is known, but no instance of it can take the call right now. */
export class ServiceNotAvailableError extends FlotillaError {
  constructor(action: string, options: FlotillaErrorOptions = {}) {
    super(`Action '${action}' is not available right now.`, "SERVICE_NOT_AVAILABLE", 503, {
      retryable: true,
      ...options,
      data: options.data ?? { action },
    });
  }
}

/** The call's deadline passed before a response came back. */
export class RequestTimeoutError extends FlotillaError {
  constructor(action: string, timeout: number, options: FlotillaErrorOptions = {}) {
    super(`Request to '${action}' timed out after ${timeout} ms.`, "REQUEST_TIMEOUT", 504, {
      retryable: true,
      ...options,
      data: options.data ?? { action, timeout },
    });
  }
}

/**
 * The call was cancelled before it ended: its caller gave up (an aborted `signal` call option, a
 * gateway client that disconnected) or left the cluster. Not retryable: nobody waits for it.
 */
export class CallAbortedError extends FlotillaError {
  constructor(action: string, reason: string, options: FlotillaErrorOptions = {}) {
    super(`Call to '${action}' was cancelled: ${reason}.`, "CALL_ABORTED", 499, {
      ...options,
      data: options.data ?? { action, reason },
    });
  }

  /** The error of a call whose caller's `signal` aborted, with the signal's reason as its cause. */
  static of(action: string, signal: AbortSignal): CallAbortedError {
    const reason: unknown = signal.reason;
    const text = reason instanceof Error ? reason.message : "the caller aborted it";
    return new CallAbortedError(action, text, { cause: reason });
  }
}

/** A call chain went deeper than `maxCallLevel`: almost always a call loop. */
export class MaxCallLevelError extends FlotillaError {
  constructor(level: number, options: FlotillaErrorOptions = {}) {
    super(`Call level ${level} exceeds the limit; is there a call loop?`, "MAX_CALL_LEVEL", 500, {
      ...options,
      data: options.data ?? { level },
    });
  }
}

/** A service definition is malformed (detected at `createService`). */
export class ServiceSchemaError extends FlotillaError {
  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, "INVALID_SERVICE", 500, options);
  }
}

/** A middleware names a hook point that does not exist. */
export class UnknownHookError extends FlotillaError {
  constructor(middleware: string, hook: string, known: readonly string[]) {
    super(
      `Middleware '${middleware}' uses unknown hook '${hook}'. Known hooks: ${known.join(", ")}.`,
      "UNKNOWN_HOOK",
      500,
      { data: { middleware, hook } },
    );
  }
}

/** The broker is stopping or stopped and takes no new work. */
export class BrokerStoppedError extends FlotillaError {
  constructor(nodeID: string, options: FlotillaErrorOptions = {}) {
    super(`Broker '${nodeID}' is stopped.`, "BROKER_STOPPED", 503, {
      retryable: true,
      ...options,
      data: options.data ?? { nodeID },
    });
  }
}

/** A wait (for services, for an event) did not end in time. */
export class WaitTimeoutError extends FlotillaError {
  constructor(what: string, timeout: number, options: FlotillaErrorOptions = {}) {
    super(`Timed out after ${timeout} ms waiting for ${what}.`, "WAIT_TIMEOUT", 504, {
      retryable: true,
      ...options,
      data: options.data ?? { what, timeout },
    });
  }
}

/** A bulkhead's queue is full: the call is shed at once instead of waiting. */
export class QueueFullError extends FlotillaError {
  constructor(action: string, options: FlotillaErrorOptions = {}) {
    super(`Too many calls to '${action}' are waiting; try again later.`, "QUEUE_FULL", 503, {
      retryable: true,
      ...options,
      data: options.data ?? { action },
    });
  }
}

/** Every endpoint of an action has an open circuit breaker: the call fails fast. */
export class CircuitOpenError extends FlotillaError {
  constructor(action: string, options: FlotillaErrorOptions = {}) {
    super(`Every instance of '${action}' is failing; its circuit is open.`, "CIRCUIT_OPEN", 503, {
      retryable: true,
      ...options,
      data: options.data ?? { action },
    });
  }
}
