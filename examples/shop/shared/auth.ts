// Who is calling, and the shop's tokens. The gateway's `jwtAuth` verifies a bearer token and puts
// its claims in `ctx.meta.user` (`sub`, `email`, `name`, `role`); `meta` follows the call chain,
// so every service an HTTP request reaches sees the same user. The users service signs the
// tokens at login with the same secret the gateway verifies them with.
import { FlotillaError, type Meta } from "flotilla";
import { jwtVerify, SignJWT } from "jose";

/** What a shop user may do: buy (`customer`), or also manage products and coupons (`admin`). */
export type Role = "customer" | "admin";

/** A shop user as the services pass it around (never with the password). */
export interface ShopUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** The issuer claim of the shop's tokens (`iss`); give it to `jwtAuth({ issuer })`. */
export const JWT_ISSUER = "flotilla-shop";

/** How long a token is valid (jose's duration syntax). */
export const TOKEN_LIFETIME = "2h";

/**
 * The secret used when `SHOP_JWT_SECRET` is not set: good for tests and a local demo only
 * (`start.ts` sets a random one for the processes it starts).
 */
export const DEV_JWT_SECRET = "flotilla-shop-development-secret-do-not-deploy";

/**
 * The HS256 secret tokens are signed and verified with: `SHOP_JWT_SECRET`, else
 * {@link DEV_JWT_SECRET}. Read at each call, so a test or `start.ts` may set it late.
 */
export function jwtSecret(): string {
  const secret = process.env.SHOP_JWT_SECRET;
  return secret === undefined || secret === "" ? DEV_JWT_SECRET : secret;
}

const key = (secret: string) => new TextEncoder().encode(secret);

/**
 * Signs a token for `user`: HS256, claims `sub` (the user ID), `email`, `name`, `role`, issued by
 * {@link JWT_ISSUER}, valid for {@link TOKEN_LIFETIME}.
 *
 * @example
 * ```ts
 * const token = await signToken({ id: "u1", email: "a@b.c", name: "Ada", role: "customer" });
 * ```
 */
export async function signToken(user: ShopUser, secret: string = jwtSecret()): Promise<string> {
  return new SignJWT({ email: user.email, name: user.name, role: user.role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user.id)
    .setIssuer(JWT_ISSUER)
    .setIssuedAt()
    .setExpirationTime(TOKEN_LIFETIME)
    .sign(key(secret));
}

/**
 * Verifies a token {@link signToken} made (signature, issuer, expiry) and returns its user, for
 * places where the gateway's `jwtAuth` does not run (a token in a query string, say). Throws
 * `UNAUTHORIZED` (401) when the token is not valid.
 */
export async function verifyToken(token: string, secret: string = jwtSecret()): Promise<ShopUser> {
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
    });
    const user = userOf(payload);
    if (user !== undefined) return user;
  } catch {
    // fall through: every bad token gets the same answer
  }
  throw unauthorized("The token is not valid.");
}

/** The user the claims describe, or `undefined` when they lack one of the fields. */
function userOf(claims: unknown): ShopUser | undefined {
  if (typeof claims !== "object" || claims === null) return undefined;
  const c = claims as Record<string, unknown>;
  const { sub, email, name, role } = c;
  if (typeof sub !== "string" || sub === "") return undefined;
  if (typeof email !== "string" || typeof name !== "string") return undefined;
  if (role !== "customer" && role !== "admin") return undefined;
  return { id: sub, email, name, role };
}

function unauthorized(message: string): FlotillaError {
  return new FlotillaError(message, "UNAUTHORIZED", 401);
}

/**
 * The caller of a call, from `ctx.meta.user` (the token's claims), or `undefined` for an
 * anonymous call.
 */
export function optionalCallerOf(ctx: { meta: Meta }): ShopUser | undefined {
  return userOf(ctx.meta.user);
}

/**
 * The caller of a call, from `ctx.meta.user` (the token's claims); throws `UNAUTHORIZED` (401)
 * when nobody is logged in.
 *
 * @example
 * ```ts
 * handler(ctx) {
 *   const { id } = callerOf(ctx);
 *   return ctx.db.selectFrom("orders").selectAll().where("user_id", "=", id).execute();
 * }
 * ```
 */
export function callerOf(ctx: { meta: Meta }): ShopUser {
  const user = userOf(ctx.meta.user);
  if (user === undefined) throw unauthorized("Log in first.");
  return user;
}
