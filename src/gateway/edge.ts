import { parse as parseQuery } from "node:querystring";
import fastifyCors from "@fastify/cors";
import fastifyRateLimit from "@fastify/rate-limit";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { HttpEdgeError } from "./errors.js";
import type { GatewayOptions } from "./options.js";
import { normalizePrefix } from "./options.js";

/** Serves the file at a request path (a GET no route matched); 404 problem when there is none. */
export type StaticFileHandler = (
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
) => unknown;

/**
 * Registers the edge plugins the options ask for, before any route (they attach to routes as
 * these are added): form bodies, CORS, per-client rate limits and static files. Compression is
 * not a hook here: the handlers that write answers compress them (see `Compressor`).
 * Returns the static-file fallback, or `undefined` without `static`.
 *
 * @example
 * ```ts
 * const staticFile = await registerEdge(app, { cors: true, static: { root: "./public" } });
 * ```
 */
export async function registerEdge(
  app: FastifyInstance,
  options: GatewayOptions,
): Promise<StaticFileHandler | undefined> {
  // HTML forms post urlencoded bodies; they become params like JSON bodies do.
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string" },
    (_request, body, done) => done(null, parseQuery(body as string)),
  );
  if (options.cors !== undefined && options.cors !== false) {
    await app.register(fastifyCors, options.cors === true ? { origin: "*" } : options.cors);
  }
  if (options.rateLimit !== undefined && options.rateLimit !== false) {
    await app.register(fastifyRateLimit, {
      max: 100,
      timeWindow: 60_000,
      ...options.rateLimit,
      global: true,
      errorResponseBuilder: (_request, context) =>
        new HttpEdgeError(
          context.ban
            ? "This client is banned for now."
            : `Too many requests; retry in ${context.after}.`,
          context.ban ? "FORBIDDEN" : "RATE_LIMITED",
          context.statusCode,
          { retryable: !context.ban, data: { limit: context.max } },
        ),
    });
  }
  if (options.static === undefined) return undefined;
  const prefix = normalizePrefix(options.static.prefix);
  // `serve: false`: the plugin only lends `reply.sendFile`; the action catch-all decides when a
  // path is a file, so action routes and files can share a prefix (`/` for a storefront).
  // Files are sent as they are; `.br`/`.gz` siblings (made at build time) are preferred when the
  // client accepts them, which is cheaper than compressing on every request.
  await app.register(fastifyStatic, {
    root: options.static.root,
    serve: false,
    preCompressed: true,
  });
  return (_request, reply, path) => {
    if (prefix !== "" && path !== prefix && !path.startsWith(`${prefix}/`)) {
      return reply.callNotFound();
    }
    return reply.sendFile(path.slice(prefix.length) || "/");
  };
}
