import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../observability/logger.js";
import type { Compressor } from "./compress.js";
import { HttpEdgeError, UnauthorizedError } from "./errors.js";
import { PROBLEM_CONTENT_TYPE, toProblem } from "./problem.js";

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/**
 * Sends an action's result. JSON is serialized here, once, and handed to Fastify as a string, so
 * Fastify's serializer lookup is skipped. Binary results (Buffer, Uint8Array) and streams go out
 * as `application/octet-stream`. A result the action returns nothing for is a 204.
 *
 * @example
 * ```ts
 * await sendResult(request, reply, { id: 1 }, 200, { wrap: false, compressor }); // 200 {"id":1}
 * ```
 */
export function sendResult(
  request: FastifyRequest,
  reply: FastifyReply,
  result: unknown,
  status: number,
  context: { wrap: boolean; compressor: Compressor | undefined },
): FastifyReply | Promise<FastifyReply> {
  if (result === undefined && !context.wrap)
    return reply.code(status === 200 ? 204 : status).send();
  if (result instanceof Uint8Array || isStream(result)) {
    return reply.code(status).type("application/octet-stream").send(result);
  }
  const json = JSON.stringify(result);
  const body = context.wrap ? `{"code":0,"data":${json ?? "null"}}` : json;
  return sendBody(request, reply.code(status), body, JSON_CONTENT_TYPE, context.compressor);
}

/**
 * Sends a text body (JSON, HTML, ...), compressed when it is large and the client accepts an
 * encoding.
 *
 * @example
 * ```ts
 * sendBody(request, reply, JSON.stringify(doc), JSON_CONTENT_TYPE, compressor);
 * ```
 */
export function sendBody(
  request: FastifyRequest,
  reply: FastifyReply,
  body: string,
  contentType: string,
  compressor: Compressor | undefined,
): FastifyReply | Promise<FastifyReply> {
  reply.type(contentType);
  if (compressor === undefined || body.length < compressor.threshold) return reply.send(body);
  reply.header("vary", "accept-encoding");
  const encoding = compressor.pick(body, request.headers["accept-encoding"]);
  if (encoding === undefined) return reply.send(body);
  return compressor
    .encode(body, encoding)
    .then((compressed) => reply.header("content-encoding", encoding).send(compressed));
}

/** What sending a problem needs besides the error. */
export interface ProblemContext {
  logger: Logger;
  typeBase: string | undefined;
}

/**
 * Sends any error as `application/problem+json`. Server errors (5xx) are logged with the request
 * ID, since their details never reach the client.
 *
 * @example
 * ```ts
 * sendProblem(reply, err, request.id, { logger, typeBase: undefined });
 * ```
 */
export function sendProblem(
  reply: FastifyReply,
  err: unknown,
  requestId: string,
  context: ProblemContext,
): FastifyReply {
  const problem = toProblem(err, requestId, context.typeBase);
  if (problem.status >= 500) {
    const level = problem.code === "INTERNAL_ERROR" || problem.status === 500 ? "error" : "warn";
    context.logger[level](
      { err, requestId },
      `Gateway answered ${problem.status}: ${problem.code}`,
    );
  }
  if (err instanceof UnauthorizedError && err.challenge !== undefined) {
    reply.header("www-authenticate", err.challenge);
  }
  if (err instanceof HttpEdgeError && err.headers !== undefined) reply.headers(err.headers);
  reply.header("x-request-id", requestId);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

function isStream(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { pipe?: unknown }).pipe === "function"
  );
}
