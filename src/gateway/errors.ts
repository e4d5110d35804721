import { FlotillaError, type FlotillaErrorOptions, registerErrorClass } from "../errors/index.js";

/**
 * The request carries no valid credentials (HTTP 401). Throw it from `authenticate`; `challenge`
 * becomes the `WWW-Authenticate` header.
 *
 * @example
 * ```ts
 * throw new UnauthorizedError("Missing bearer token", { challenge: "Bearer" });
 * ```
 */
export class UnauthorizedError extends FlotillaError {
  /** The `WWW-Authenticate` value sent with the 401, e.g. `Bearer error="invalid_token"`. */
  readonly challenge: string | undefined;
  constructor(
    message = "Authentication required.",
    options: FlotillaErrorOptions & { challenge?: string } = {},
  ) {
    super(message, "UNAUTHORIZED", 401, options);
    this.challenge = options.challenge;
  }
}

/**
 * The caller is known but may not do this (HTTP 403). Thrown when `authorize` returns `false`;
 * throw it yourself for a more precise message.
 *
 * @example
 * ```ts
 * if (user.role !== "admin") throw new ForbiddenError("Admins only.");
 * ```
 */
export class ForbiddenError extends FlotillaError {
  constructor(message = "Not allowed.", options: FlotillaErrorOptions = {}) {
    super(message, "FORBIDDEN", 403, options);
  }
}

/** Errors at the HTTP edge that are not about an action (bad body, unknown path, ...). */
export class HttpEdgeError extends FlotillaError {
  /** Extra response headers (`Allow` for a 405). */
  readonly headers: Record<string, string> | undefined;
  constructor(
    message: string,
    code: string,
    status: number,
    options: FlotillaErrorOptions & { headers?: Record<string, string> } = {},
  ) {
    super(message, code, status, options);
    this.headers = options.headers;
  }
}

// Services may throw these too (a service that checks permissions itself); registering them
// makes them arrive at the gateway as the same class when thrown on another node.
registerErrorClass(UnauthorizedError);
registerErrorClass(ForbiddenError);
