import type { FastifyCorsOptions } from "@fastify/cors";
import type { RateLimitPluginOptions } from "@fastify/rate-limit";
import type { FastifyRequest } from "fastify";
import type { CompressSettings } from "./compress.js";

/**
 * Finds out who is calling. Returns the user (placed in `ctx.meta.user`), or `undefined` for an
 * anonymous request; throws (an `UnauthorizedError`, or any FlotillaError) to refuse it.
 */
export type Authenticate = (request: FastifyRequest) => unknown;

/** What an `authorize` hook is told about the request it decides on. */
export interface AuthorizeInfo {
  /** The action the route calls, e.g. `users.get`. */
  action: string;
  /** The HTTP method (`HEAD` is reported as `GET`). */
  method: string;
  /** The route pattern, e.g. `/api/users/:id`. */
  route: string;
  /** The merged params the action will receive (before the action validates them). */
  params: Record<string, unknown>;
  request: FastifyRequest;
}

/**
 * Decides whether `user` may call the route. Return `false` for 403, or throw a FlotillaError
 * of your own; anything else lets the call through.
 */
export type Authorize = (user: unknown, info: AuthorizeInfo) => unknown;

/** Settings of the routes of one action (see `GatewayOptions.actions`) or of one alias. */
export interface RouteSettings {
  /** Replaces the global `authenticate` for these routes; `false` turns it off (public routes). */
  authenticate?: Authenticate | false;
  /** Replaces the global `authorize` for these routes; `false` turns it off. */
  authorize?: Authorize | false;
  /** HTTP status of a successful answer. Default 200 (204 when the action returns nothing). */
  status?: number;
  /** Time budget of the call in ms. Default: the action's, then the broker's. */
  timeout?: number;
}

/** An alias target: an action name, or an action name with route settings. */
export type AliasTarget = string | (RouteSettings & { action: string });

/** Where the OpenAPI document and the docs page are served, and what the document says. */
export interface OpenApiSettings {
  /** Path of the JSON document. Default `/openapi.json`. */
  path?: string;
  /** Path of the docs page (its script and style sit under it); `false` for none. Default `/docs`. */
  docsPath?: string | false;
  /** `info.title`. Default `"Flotilla API"`. */
  title?: string;
  /** `info.version`. Default `"1.0.0"`. */
  version?: string;
  /** `info.description`. */
  description?: string;
  /** `servers`; default: none (the document is relative to the host that serves it). */
  servers?: { url: string; description?: string }[];
}

/** Rate limiting per client: at most `max` requests per `timeWindow`, then 429. */
export type RateLimitSettings = Omit<RateLimitPluginOptions, "errorResponseBuilder" | "global">;

/** Options of `createGateway`, `startGateway` and `gatewayService`. Every field is optional. */
export interface GatewayOptions {
  /** TCP port; 0 picks a free one. Default 3000. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1` (use `0.0.0.0` in containers). */
  host?: string;
  /** Mounts every action route under this path, e.g. `/api`. Default `""`. */
  prefix?: string;
  /** Extra routes: `{ "POST /login": "users.login" }`; they win over `rest` declarations. */
  aliases?: Record<string, AliasTarget>;
  /** Route settings by action name or pattern (`"users.login"`, `"admin.*"`, `"**"`). */
  actions?: Record<string, RouteSettings>;
  /** Wrap successful results as `{ "code": 0, "data": result }`. Default `false`. */
  wrapResponse?: boolean;
  /** Largest accepted request body in bytes; larger ones get 413. Default 1 MiB. */
  bodyLimit?: number;
  /** Deepest nesting of objects and arrays in a JSON body; deeper ones get 422. Default 512. */
  maxBodyDepth?: number;
  /** CORS: `true` allows every origin; an object is passed to `@fastify/cors`. Default off. */
  cors?: boolean | FastifyCorsOptions;
  /** Rate limiting per client (by IP unless `keyGenerator` says otherwise). Default off. */
  rateLimit?: false | RateLimitSettings;
  /** brotli/gzip/deflate of JSON answers of 1 KiB or more when the client accepts it. Default on. */
  compress?: boolean | CompressSettings;
  /** Serves files from `root` under `prefix` (default `/`); action routes win on conflicts. */
  static?: { root: string; prefix?: string };
  /** Runs before every action route unless the route's settings turn it off. Default none. */
  authenticate?: Authenticate;
  /** Runs after `authenticate` on every action route unless turned off. Default none. */
  authorize?: Authorize;
  /** OpenAPI document and docs page; `false` serves neither. Default on. */
  openapi?: false | OpenApiSettings;
  /** Base of problem `type` URIs (`<base><code-in-kebab-case>`). Default: `about:blank`. */
  problemTypeBase?: string;
  /** Passed to Fastify: trust `X-Forwarded-*` (needed for per-client rate limits behind a proxy). */
  trustProxy?: boolean | string | string[];
  /** Log every request through the broker's logger. Default `false` (errors are always logged). */
  logRequests?: boolean;
  /**
   * Serves the broker's Prometheus metrics (`broker.metrics`) on `GET /metrics`, or on the path
   * given; 404 while the broker has none (its `metrics` option is off). Like the docs routes, it
   * wins over action routes, and is not authenticated: expose the port to Prometheus only, or
   * use the health server's `/metrics`. Default off.
   */
  metrics?: boolean | string;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_PORT = 3000;
export const DEFAULT_HOST = "127.0.0.1";

/** Normalizes a path prefix: `"api/"` → `"/api"`, `"/"` → `""`. */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return "";
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "" : `/${trimmed}`;
}
