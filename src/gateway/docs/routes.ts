import type { FastifyInstance } from "fastify";
import type { Compressor } from "../compress.js";
import type { OpenApiDocument } from "../openapi/document.js";
import type { OpenApiSettings } from "../options.js";
import { JSON_CONTENT_TYPE, sendBody } from "../reply.js";
import { DOCS_CSS, docsHtml } from "./page.js";
import { DOCS_SCRIPT } from "./script.js";

/**
 * Serves the OpenAPI document (built on demand, cached until the cluster changes) and the docs
 * page with its script and style. These are plain Fastify routes, so they win over the action
 * catch-all: an action cannot take `/openapi.json` or `/docs` while they are on.
 *
 * @example
 * ```ts
 * registerDocs(app, { path: "/openapi.json", docsPath: "/docs" }, () => gateway.openapi(), undefined);
 * ```
 */
export function registerDocs(
  app: FastifyInstance,
  settings: OpenApiSettings,
  document: () => OpenApiDocument,
  compressor: Compressor | undefined,
): void {
  const specPath = settings.path ?? "/openapi.json";
  let cached: { source: OpenApiDocument; json: string } | undefined;
  app.get(specPath, (request, reply) => {
    const doc = document();
    // The builder returns the same object until the routes change; serialize once per version.
    if (cached?.source !== doc) cached = { source: doc, json: JSON.stringify(doc) };
    return sendBody(
      request,
      reply.header("x-request-id", request.id),
      cached.json,
      JSON_CONTENT_TYPE,
      compressor,
    );
  });
  if (settings.docsPath === false) return;
  const base = settings.docsPath ?? "/docs";
  const html = docsHtml(base, specPath, settings.title ?? "Flotilla API");
  const asset = (path: string, body: string, type: string, cache: boolean) =>
    app.get(path, (request, reply) => {
      reply.header("x-request-id", request.id);
      if (cache) reply.header("cache-control", "no-cache");
      return sendBody(request, reply, body, type, compressor);
    });
  asset(base, html, "text/html; charset=utf-8", false);
  asset(`${base}/docs.js`, DOCS_SCRIPT, "text/javascript; charset=utf-8", true);
  asset(`${base}/docs.css`, DOCS_CSS, "text/css; charset=utf-8", true);
}
