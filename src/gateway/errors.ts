import { FlotillaError, type FlotillaErrorOptions } from "../errors/index.js";

// 401 and 403 live in the error catalogue (the authorization middleware raises them too); the
// gateway re-exports them, as it always has.
export { ForbiddenError, UnauthorizedError } from "../errors/index.js";

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
