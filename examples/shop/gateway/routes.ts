// The shop's REST API: every route the storefront uses, as gateway aliases under `/api`, with
// who may call it. Aliases (rather than the services' own `rest` declarations) keep the whole
// public surface in one table here: an internal action such as `products.reserve` has no route
// unless it is listed.
import type { FastifyRequest } from "fastify";
import { type AliasTarget, type Authorize, type GatewayOptions, jwtAuth } from "flotilla/gateway";
import { JWT_ISSUER } from "../shared/auth.js";

/**
 * The user the gateway places in `ctx.meta.user`: the token's claims (see shared/auth.ts),
 * `sub` being the user ID.
 */
export interface GatewayUser {
  sub: string;
  /** The same as `sub`, for code that prefers the name. */
  id: string;
  email: string;
  name: string;
  role: "customer" | "admin";
}

/** How often one client may try to log in: `max` attempts per `window` ms. */
export interface LoginLimit {
  max: number;
  window: number;
}

/** Default limits: 10 logins a minute per client; 1200 other requests (pages, files, API). */
export const LOGIN_LIMIT: LoginLimit = { max: 10, window: 60_000 };
const GENERAL_LIMIT = { max: 1200, window: 60_000 };

const role = (user: unknown): string | undefined =>
  (user as Partial<GatewayUser> | undefined)?.role;

/** Routes for a logged-in user: no token, 401. */
const signedIn: Authorize = (user) => user !== undefined;
/** Routes for administrators: no token, 401; a customer's token, 403. */
const admin: Authorize = (user) => role(user) === "admin";

/** Every route of the shop's API, relative to `/api`. */
export const ROUTES: Record<string, AliasTarget> = {
  "POST /register": { action: "users.register", authenticate: false, status: 201 },
  "POST /login": { action: "users.login", authenticate: false },
  "GET /me": { action: "users.me", authorize: signedIn },

  // Public reads take no token at all, so a stale one in the browser cannot break browsing.
  "GET /products": { action: "products.list", authenticate: false },
  "GET /products/:id": { action: "products.get", authenticate: false },
  "POST /products": { action: "products.create", authorize: admin, status: 201 },
  "PATCH /products/:id": { action: "products.update", authorize: admin },

  "POST /coupons/check": { action: "coupons.check", authorize: signedIn },
  "GET /coupons": { action: "coupons.list", authorize: admin },
  "POST /coupons": { action: "coupons.create", authorize: admin, status: 201 },
  "PATCH /coupons/:code": { action: "coupons.update", authorize: admin },

  "POST /orders": { action: "orders.checkout", authorize: signedIn, status: 201 },
  "GET /orders": { action: "orders.list", authorize: signedIn },
  "GET /orders/:id": { action: "orders.get", authorize: signedIn },

  // The demo mailbox: what the shop "sent", readable by anyone (there is no real mail here).
  "GET /mailbox": { action: "mailbox.list", authenticate: false },
};

/** What {@link shopGatewayOptions} needs. */
export interface ShopGatewaySettings {
  port: number;
  host: string;
  /** The HS256 secret of the users' tokens. */
  secret: string;
  /** The storefront's folder. */
  storefront: string;
  /** Login attempts per client; default {@link LOGIN_LIMIT}. */
  loginLimit?: LoginLimit;
}

/**
 * The gateway's options: `/api` routes, optional JWT auth (public routes stay public; a token
 * that is sent must be valid), a strict rate limit on `POST /api/login` and a generous one on
 * everything else, and the storefront on `/`.
 *
 * @example
 * ```ts
 * const gateway = await createGateway(broker, shopGatewayOptions({ port: 0, host, secret, storefront }));
 * ```
 */
export function shopGatewayOptions(settings: ShopGatewaySettings): GatewayOptions {
  const login = settings.loginLimit ?? LOGIN_LIMIT;
  // The gateway's rate limit is one plugin for every route; keying login attempts apart and
  // giving that key its own `max` and window makes it a per-route limit.
  const isLogin = (request: FastifyRequest) =>
    request.method === "POST" && request.url.split("?")[0]?.replace(/\/+$/, "") === "/api/login";
  return {
    port: settings.port,
    host: settings.host,
    prefix: "/api",
    aliases: ROUTES,
    authenticate: jwtAuth({
      secret: settings.secret,
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      optional: true,
      user: (claims): GatewayUser => ({
        sub: String(claims.sub),
        id: String(claims.sub),
        email: String(claims.email ?? ""),
        name: String(claims.name ?? ""),
        role: claims.role === "admin" ? "admin" : "customer",
      }),
    }),
    rateLimit: {
      keyGenerator: (request) => (isLogin(request) ? `login:${request.ip}` : request.ip),
      max: (_request, key) => (key.startsWith("login:") ? login.max : GENERAL_LIMIT.max),
      timeWindow: (_request, key) =>
        key.startsWith("login:") ? login.window : GENERAL_LIMIT.window,
    },
    static: { root: settings.storefront },
    openapi: { title: "Flotilla shop", version: "1.0.0" },
  };
}
