import {
  FlotillaError,
  type FlotillaErrorOptions,
  RequestTimeoutError,
  registerErrorClass,
  ServiceNotAvailableError,
} from "../errors/index.js";

/**
 * An outside service answered with a 4xx or 5xx status. `code` is `HTTP_<status>` and `status`
 * the upstream status, so a gateway in front passes it on as is. The URL and the response body
 * stay on this node (`url`, `body`): they are not part of `data`, which may reach clients.
 *
 * @example
 * ```ts
 * try { await payments.post("/charges", charge); }
 * catch (err) { if (err instanceof HttpError && err.status === 402) ... }
 * ```
 */
export class HttpError extends FlotillaError {
  /** The method and URL of the failed request. */
  readonly method: string;
  readonly url: string;
  /** The response body: parsed JSON, text, or `undefined`. */
  readonly body: unknown;
  /** The response headers. */
  readonly headers: Record<string, string | string[] | undefined>;

  constructor(
    method: string,
    url: string,
    status: number,
    body: unknown,
    headers: Record<string, string | string[] | undefined> = {},
    options: FlotillaErrorOptions = {},
  ) {
    super(`Upstream ${method} answered ${status}.`, `HTTP_${status}`, status, {
      retryable: status >= 500 || status === 429 || status === 408,
      ...options,
      data: options.data ?? { status },
    });
    this.method = method;
    this.url = url;
    this.body = body;
    this.headers = headers;
  }
}

// Errors thrown inside an action cross the wire by class name; register ours so a caller on
// another node gets an HttpError back, not a bare FlotillaError.
registerErrorClass(HttpError);

/** Error codes of failures to reach the server at all: the request was never sent. */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Error codes of a connection that broke: the request may or may not have been processed. */
const BROKEN_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The error code of a network failure (looking through `cause`), or `undefined`. */
export function networkCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (CONNECT_CODES.has(code) || BROKEN_CODES.has(code)))
      return code;
  }
  return undefined;
}

/** Whether the failure happened before the request left, so that any method may be retried. */
export function isConnectFailure(code: string | undefined): boolean {
  return code !== undefined && CONNECT_CODES.has(code);
}

// Messages name the method but not the host: a gateway shows 503/504 details to its clients, and
// internal host names are none of their business. The origin is in `cause` and in the logs.

/** A network failure as the FlotillaError callers handle: the service is not available. */
export function unavailable(method: string, code: string, cause: unknown): FlotillaError {
  const err = new ServiceNotAvailableError("upstream", { cause, data: { method, code } });
  err.message = `Upstream ${method} failed: ${code}.`;
  return err;
}

/** The request's time budget ran out (across every attempt). */
export function timedOut(method: string, url: string, timeout: number): FlotillaError {
  const err = new RequestTimeoutError("upstream", timeout, {
    cause: new Error(`${method} ${url} timed out`),
    data: { method, timeout },
  });
  err.message = `Upstream ${method} timed out after ${timeout} ms.`;
  return err;
}
