import type { FastifyRequest } from "fastify";
import {
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import { ServiceNotAvailableError } from "../errors/index.js";
import { UnauthorizedError } from "./errors.js";
import { describeAuth } from "./openapi/security.js";
import type { Authenticate } from "./options.js";

/** Options of {@link jwtAuth}: a shared `secret` (HS*) or a `jwksUrl` (RS*, ES*, EdDSA). */
export interface JwtAuthOptions {
  /** Shared secret for HMAC-signed tokens (HS256/384/512). */
  secret?: string | Uint8Array;
  /** URL of a JSON Web Key Set; keys are fetched on first use and cached (refetched on unknown `kid`). */
  jwksUrl?: string | URL;
  /** Required `iss` claim. */
  issuer?: string | string[];
  /** Required `aud` claim. */
  audience?: string | string[];
  /** Accepted algorithms. Default: any the key supports. */
  algorithms?: string[];
  /** Leeway for `exp`/`nbf`, in seconds or a string like `"30s"`. Default 0. */
  clockTolerance?: string | number;
  /** Let requests without a token through as anonymous (the user is `undefined`). Default `false`. */
  optional?: boolean;
  /** Turns the verified claims into the user placed in `ctx.meta.user`. Default: the claims. */
  user?: (payload: JWTPayload) => unknown;
}

/**
 * An `authenticate` hook for `Authorization: Bearer <JWT>`, on `jose`. The verified claims (or
 * what `user` makes of them) become `ctx.meta.user`. Missing, malformed, expired or badly
 * signed tokens are refused with 401 and a `WWW-Authenticate: Bearer` challenge; a JWKS
 * endpoint that cannot be reached gives 503.
 *
 * @example
 * ```ts
 * await startGateway(broker, {
 *   authenticate: jwtAuth({ secret: process.env.JWT_SECRET!, issuer: "shop" }),
 *   actions: { "users.login": { authenticate: false } },
 * });
 * ```
 */
export function jwtAuth(options: JwtAuthOptions): Authenticate {
  const key = keyOf(options);
  const verifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    algorithms: options.algorithms,
    clockTolerance: options.clockTolerance,
  };
  const toUser = options.user ?? ((payload: JWTPayload) => payload);
  const authenticate = async (request: FastifyRequest): Promise<unknown> => {
    const header = request.headers.authorization;
    if (header === undefined || header === "") {
      if (options.optional === true) return undefined;
      throw new UnauthorizedError("A bearer token is required.", { challenge: "Bearer" });
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new UnauthorizedError("The Authorization header must be 'Bearer <token>'.", {
        challenge: 'Bearer error="invalid_request"',
      });
    }
    try {
      const { payload } =
        key instanceof Uint8Array
          ? await jwtVerify(match[1]!, key, verifyOptions)
          : await jwtVerify(match[1]!, key, verifyOptions);
      return toUser(payload);
    } catch (err) {
      throw refusal(err);
    }
  };
  return describeAuth(authenticate, {
    name: "bearerAuth",
    scheme: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
  });
}

function keyOf(options: JwtAuthOptions): Uint8Array | JWTVerifyGetKey {
  if (options.secret !== undefined && options.jwksUrl !== undefined) {
    throw new TypeError("jwtAuth: give either `secret` or `jwksUrl`, not both.");
  }
  if (options.secret !== undefined) {
    return typeof options.secret === "string"
      ? new TextEncoder().encode(options.secret)
      : options.secret;
  }
  if (options.jwksUrl !== undefined) return createRemoteJWKSet(new URL(options.jwksUrl));
  throw new TypeError("jwtAuth: `secret` or `jwksUrl` is required.");
}

/** Token problems are the caller's (401); failing to fetch the key set is ours (503). */
function refusal(err: unknown): Error {
  // jose raises a bare JOSEError (ERR_JOSE_GENERIC) only when fetching the key set fails.
  const keySetFailed =
    !(err instanceof joseErrors.JOSEError) ||
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    err.code === "ERR_JOSE_GENERIC";
  if (keySetFailed) {
    return new ServiceNotAvailableError("JWKS", { cause: err, data: { what: "jwks" } });
  }
  const reason =
    err instanceof joseErrors.JWTExpired ? "The token has expired." : "The token is invalid.";
  return new UnauthorizedError(reason, {
    cause: err,
    challenge: `Bearer error="invalid_token", error_description="${reason}"`,
  });
}
