import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * Errors of access control: who the caller is (401) and what the caller may do (403). The
 * gateway raises them for HTTP requests; the authorization middleware raises them for calls to
 * actions that check the caller's roles and scopes themselves.
 */

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
 * The caller is known but may not do this (HTTP 403): an `authorize` hook said no, or the
 * caller lacks a role or scope the action requires.
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
