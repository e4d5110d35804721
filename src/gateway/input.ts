import type { FastifyInstance, onRequestHookHandler } from "fastify";
import { PayloadTooDeepError } from "../errors/index.js";
import { jsonTooDeep } from "../serializers/depth.js";
import { HttpEdgeError } from "./errors.js";

/**
 * JSON media types: `application/json` and structured-syntax `+json` types
 * (`application/problem+json`, `application/vnd.api+json`), parameters allowed after them.
 */
const JSON_TYPE = /^application\/(?:[\w!#$%&'*.^`|~-]+\+)?json(?:\s*;|$)/;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/**
 * Replaces Fastify's body parsers with strict ones: JSON only under a JSON media type (see
 * `JSON_TYPE`) in UTF-8 (RFC 8259; a `charset` other than `utf-8` is a 415), nested at most
 * `maxDepth` levels (deeper is a 422 `PAYLOAD_TOO_DEEP`, refused before it is parsed), and no
 * `text/plain` parser, so a JSON route refuses a text body with 415 instead of receiving a
 * string. `application/x-www-form-urlencoded` is added by `registerEdge`.
 *
 * @example
 * ```ts
 * registerBodyParsers(app, 512);
 * ```
 */
export function registerBodyParsers(app: FastifyInstance, maxDepth: number): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPE, { parseAs: "string" }, (request, body, done) => {
    const charset = CHARSET.exec(request.headers["content-type"] ?? "")?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
      done(
        new HttpEdgeError(
          `JSON bodies must be UTF-8, not '${charset.slice(0, 40)}'.`,
          "UNSUPPORTED_MEDIA_TYPE",
          415,
        ),
        undefined,
      );
      return;
    }
    if (jsonTooDeep(body as string, maxDepth)) {
      done(new PayloadTooDeepError(maxDepth), undefined);
      return;
    }
    parseJson(request, body as string, done);
  });
  // A raw body is not read here: the action gets it as a stream (see `docs/streams.md`), with
  // back-pressure from the node that reads it, and no size limit but what that node accepts.
  app.addContentTypeParser("application/octet-stream", (_request, payload, done) =>
    done(null, payload),
  );
}

/**
 * An `onRequest` hook that refuses a query string which is not valid percent-encoding (`?a=%`,
 * `?%=1`, a cut UTF-8 sequence like `%E0%A4%A`) with 400 `BAD_REQUEST`: Fastify's parser would
 * pass such bytes on as they are. Queries without `%` are not looked at.
 *
 * @example
 * ```ts
 * app.addHook("onRequest", checkQueryEncoding);
 * ```
 */
export const checkQueryEncoding: onRequestHookHandler = (request, _reply, done) => {
  const url = request.url;
  const q = url.indexOf("?");
  if (q !== -1 && url.indexOf("%", q) !== -1) {
    // Separators (`&`, `=`) are ASCII and never inside an escape, so the whole query decodes
    // exactly when each of its keys and values does.
    try {
      decodeURIComponent(url.slice(q + 1));
    } catch {
      done(
        new HttpEdgeError("The query string is not valid percent-encoding.", "BAD_REQUEST", 400),
      );
      return;
    }
  }
  done();
};
