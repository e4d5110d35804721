import type { JSONSchema } from "../../service/json-schema.js";
import type { Authenticate } from "../options.js";

/** How an `authenticate` hook appears in the OpenAPI document. */
export interface SecurityDescription {
  /** The key under `components.securitySchemes`, e.g. `bearerAuth`. */
  name: string;
  /** An OpenAPI Security Scheme Object, e.g. `{ type: "http", scheme: "bearer" }`. */
  scheme: JSONSchema;
}

const SECURITY = Symbol.for("flotilla.gateway.security");

type Described = Authenticate & { [SECURITY]?: SecurityDescription };

/**
 * Tells the OpenAPI document which security scheme an `authenticate` hook implements, so that
 * its routes list it under `security` and the docs page offers a matching credentials field.
 * `jwtAuth` does this for you.
 *
 * @example
 * ```ts
 * const apiKey = describeAuth(
 *   (req) => lookUpKey(req.headers["x-api-key"]),
 *   { name: "apiKey", scheme: { type: "apiKey", in: "header", name: "x-api-key" } },
 * );
 * ```
 */
export function describeAuth<F extends Authenticate>(
  authenticate: F,
  description: SecurityDescription,
): F {
  (authenticate as Described)[SECURITY] = description;
  return authenticate;
}

/** The description given with {@link describeAuth}, if any. */
export function securityOf(
  authenticate: Authenticate | undefined,
): SecurityDescription | undefined {
  return authenticate === undefined ? undefined : (authenticate as Described)[SECURITY];
}
