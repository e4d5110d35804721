import { STATUS_CODES } from "node:http";
import { FlotillaError, type ValidationIssue } from "../errors/index.js";

/** One validation issue in a problem's `errors`. */
export interface ProblemIssue {
  /** Keys from the root of the params to the bad value, e.g. `["items", 0, "qty"]`. */
  path: (string | number)[];
  /** The same location as a JSON Pointer (RFC 6901), e.g. `/items/0/qty`. */
  pointer: string;
  message: string;
}

/** The body of every error answer: RFC 9457 problem details plus Flotilla's members. */
export interface Problem {
  /** `about:blank` unless `problemTypeBase` is set. */
  type: string;
  /** The HTTP reason phrase, e.g. `Unprocessable Content`. */
  title: string;
  status: number;
  /** The stable Flotilla error code, e.g. `VALIDATION_ERROR`. */
  code: string;
  /** What went wrong, for people; generic for 500s (internals never leave the server). */
  detail: string;
  /** Validation issues, when there are any. */
  errors?: ProblemIssue[];
  /** The error's `data` for client errors (4xx) other than validation. */
  data?: unknown;
  /** The request ID (also in the `x-request-id` header): quote it when reporting a problem. */
  requestId: string;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";
const HIDDEN_DETAIL = "The server could not complete the request.";

/** Fastify's own error codes that deserve a Flotilla code of their own. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_JSON_BODY: "INVALID_BODY",
  FST_ERR_CTP_EMPTY_JSON_BODY: "INVALID_BODY",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "INVALID_BODY",
  FST_ERR_BAD_URL: "BAD_REQUEST",
};

const CODES_BY_STATUS: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  429: "RATE_LIMITED",
};

/**
 * Turns anything thrown while handling a request into a problem document. FlotillaErrors keep
 * their status and code; Fastify's client errors (bad JSON, body too large) keep their status;
 * everything else is a 500 whose detail says nothing about the server's insides.
 *
 * @example
 * ```ts
 * toProblem(new ValidationError("bad", [{ path: ["id"], message: "Expected number" }]), "r1");
 * // { type: "about:blank", title: "Unprocessable Content", status: 422, code: "VALIDATION_ERROR", ... }
 * ```
 */
export function toProblem(err: unknown, requestId: string, typeBase?: string): Problem {
  let status = 500;
  let code = "INTERNAL_ERROR";
  let detail = HIDDEN_DETAIL;
  let errors: ProblemIssue[] | undefined;
  let data: unknown;
  if (err instanceof FlotillaError) {
    status = err.status >= 400 && err.status <= 599 ? err.status : 500;
    code = err.code;
    if (isPublic(status)) detail = err.message;
    if (code === "VALIDATION_ERROR" && Array.isArray(err.data)) errors = toIssues(err.data);
    else if (status < 500 && err.data !== undefined) data = err.data;
  } else if (isFastifyClientError(err)) {
    status = err.statusCode;
    code = FASTIFY_CODES[err.code ?? ""] ?? CODES_BY_STATUS[status] ?? `HTTP_${status}`;
    detail = err.message;
  }
  // Members in a fixed order, the request ID last, so answers read the same way every time.
  return {
    type: typeBase === undefined ? "about:blank" : `${typeBase}${kebab(code)}`,
    title: STATUS_CODES[status] ?? "Error",
    status,
    code,
    detail,
    ...(errors === undefined ? {} : { errors }),
    ...(data === undefined ? {} : { data }),
    requestId,
  };
}

/** 4xx details are for the caller; of the 5xx only "try again later" ones are safe to show. */
function isPublic(status: number): boolean {
  return status < 500 || status === 502 || status === 503 || status === 504;
}

function isFastifyClientError(
  err: unknown,
): err is { statusCode: number; code?: string; message: string } {
  if (!(err instanceof Error)) return false;
  const statusCode = (err as { statusCode?: unknown }).statusCode;
  return typeof statusCode === "number" && statusCode >= 400 && statusCode < 500;
}

function toIssues(issues: readonly ValidationIssue[]): ProblemIssue[] {
  return issues.map((issue) => ({
    path: issue.path,
    pointer: `/${issue.path.map((key) => String(key).replace(/~/g, "~0").replace(/\//g, "~1")).join("/")}`,
    message: issue.message,
  }));
}

function kebab(code: string): string {
  return code.toLowerCase().replace(/_/g, "-");
}

/** JSON Schema of {@link Problem}, for the OpenAPI document. */
export const PROBLEM_SCHEMA = {
  type: "object",
  description: "RFC 9457 problem details, as every error answer of the gateway.",
  required: ["type", "title", "status", "code", "detail", "requestId"],
  properties: {
    type: { type: "string", description: "Problem type URI; `about:blank` by default." },
    title: { type: "string", description: "The HTTP reason phrase." },
    status: { type: "integer", minimum: 400, maximum: 599 },
    code: { type: "string", description: "Stable error code, e.g. VALIDATION_ERROR." },
    detail: { type: "string" },
    errors: {
      type: "array",
      description: "Validation issues, for 422 answers.",
      items: {
        type: "object",
        required: ["path", "pointer", "message"],
        properties: {
          path: { type: "array", items: { type: ["string", "integer"] } },
          pointer: { type: "string", description: "JSON Pointer to the offending value." },
          message: { type: "string" },
        },
      },
    },
    data: { description: "Machine-readable details of a client error." },
    requestId: { type: "string", description: "Also sent as the x-request-id header." },
  },
} as const;
