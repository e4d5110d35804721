import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import type { Logger } from "../observability/logger.js";
import { HttpEdgeError } from "./errors.js";
import { PROBLEM_CONTENT_TYPE, toProblem } from "./problem.js";

/** What Node's HTTP parser (llhttp) reports, as the status and code the gateway answers with. */
function refusalOf(code: string | undefined): HttpEdgeError {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return new HttpEdgeError(
        "The request line and headers exceed the server's limit.",
        "HEADERS_TOO_LARGE",
        431,
      );
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new HttpEdgeError("The request was not received in time.", "CLIENT_TIMEOUT", 408);
    case "HPE_INVALID_METHOD":
      return new HttpEdgeError(
        "The request method is not a known HTTP method.",
        "BAD_REQUEST",
        400,
      );
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
    case "HPE_INVALID_TRANSFER_ENCODING":
    case "HPE_INVALID_CONTENT_LENGTH":
      return new HttpEdgeError(
        "The request's Content-Length and Transfer-Encoding do not agree.",
        "BAD_REQUEST",
        400,
      );
    default:
      return new HttpEdgeError("The request is not valid HTTP.", "BAD_REQUEST", 400);
  }
}

/**
 * Fastify's `clientErrorHandler`: answers requests that Node's HTTP parser refused (headers too
 * large, bad header syntax, conflicting Content-Length and Transfer-Encoding, an unknown method,
 * a request that took too long) with a problem document like every other error answer, then
 * closes the connection. Nothing of the request is echoed; the detail is a fixed sentence.
 * When the socket is gone or an answer to an earlier request on it is half-written, it is only
 * closed. Logged at debug level: strangers decide how often this runs.
 *
 * @example
 * ```ts
 * Fastify({ clientErrorHandler: clientErrorHandler(logger, undefined) });
 * ```
 */
export function clientErrorHandler(logger: Logger, typeBase: string | undefined) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    logger.debug({ code: err.code }, "Refused a request Node's HTTP parser could not read");
    // As Node's own handler: an answer already under way on this socket cannot be followed.
    const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || pending?.headersSent === true) {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    const problem = toProblem(refusalOf(err.code), requestId, typeBase);
    const body = JSON.stringify(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        "Connection: close\r\n\r\n" +
        body,
      () => socket.destroy(),
    );
  };
}
