import { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { CANCEL_HOOK, type CancelHook } from "../broker/context.js";
import { CallAbortedError, FlotillaError, ServiceNotAvailableError } from "../errors/index.js";
import type { ActionInfo } from "../registry/catalog.js";
import type { CallOptions, Meta } from "../service/call-types.js";
import { authorizeRequest } from "./auth.js";
import type { Compressor } from "./compress.js";
import { HttpEdgeError } from "./errors.js";
import { mergeParams } from "./params.js";
import { type ProblemContext, sendProblem, sendResult } from "./reply.js";
import type { GatewayRoute, RouteTable } from "./route-table.js";
import { BadPathError, type RouteMatch } from "./router.js";
import { traced } from "./tracing.js";

/** The broker as the gateway uses it: calls, the cluster catalog, a logger. */
export interface GatewayBroker {
  readonly nodeID: string;
  readonly logger: ProblemContext["logger"];
  readonly registry: {
    catalog(): ActionInfo[];
    watch(watcher: () => void): () => void;
  };
  call(name: string, params?: unknown, opts?: CallOptions): Promise<unknown>;
}

/** What the dispatcher reads on every request. */
export interface DispatchState {
  readonly broker: GatewayBroker;
  readonly table: RouteTable;
  /** Rebuilds the route table if the cluster changed since the last build. */
  readonly refresh: () => void;
  /** How results are written: wrapped or not, compressed when large. */
  readonly results: { wrap: boolean; compressor: Compressor | undefined };
  readonly problems: ProblemContext;
  /** Serves a file for a GET that matched no route, when static files are configured. */
  readonly staticFile:
    | ((request: FastifyRequest, reply: FastifyReply, path: string) => unknown)
    | undefined;
}

/**
 * The single Fastify handler behind every action route. The route table is looked up per
 * request (it changes with the cluster, Fastify's router cannot), then: params merged, hooks
 * run when the route has any, the action called with the request ID and trace headers, and the
 * result or the error written out. Nothing is compiled or allocated per request beyond the
 * params, the call options and the answer.
 *
 * @example
 * ```ts
 * app.route({ method: ["GET", "POST"], url: "/*", handler: createDispatcher(state) });
 * ```
 */
export function createDispatcher(state: DispatchState) {
  const { broker, problems, results } = state;
  return async function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    state.refresh();
    const method = request.method === "HEAD" ? "GET" : request.method;
    const path = pathOf(request.url);
    let match: RouteMatch<GatewayRoute> | undefined;
    try {
      match = state.table.router.find(method, path);
    } catch (err) {
      return sendProblem(reply, badPath(err), request.id, problems);
    }
    if (match === undefined) return miss(state, request, reply, method, path);
    const route = match.route;
    if (!route.available) {
      return sendProblem(reply, new ServiceNotAvailableError(route.action), request.id, problems);
    }
    const params = match.params;
    return traced(request, reply, route, async (headers, fail) => {
      try {
        // A raw body (`application/octet-stream`) is passed on as a stream: it becomes the
        // action's params, and the path and query params go in `meta.$params`.
        const upload = isReadable(request.body) ? request.body : undefined;
        const merged = mergeParams(request.query, upload ? undefined : request.body, params);
        let meta: Meta | undefined;
        if (
          route.authenticate !== undefined ||
          route.authorize !== undefined ||
          route.access !== undefined
        ) {
          meta = await authorizeRequest(route, request, merged, method);
        }
        if (upload !== undefined) meta = { ...meta, $params: merged };
        const result = await broker.call(route.action, upload ?? merged, {
          meta,
          requestID: request.id,
          headers,
          timeout: route.timeout,
          [CANCEL_HOOK]: clientGone(reply, route.action),
        } as CallOptions);
        reply.header("x-request-id", request.id);
        const sent = sendResult(request, reply, result, route.status, results);
        // Only compressed answers are asynchronous; skip the extra tick for the others.
        return sent instanceof Promise ? await sent : sent;
      } catch (err) {
        fail(err);
        return sendProblem(reply, goneAsUnavailable(err, route), request.id, problems);
      }
    });
  };
}

function isReadable(body: unknown): body is Readable {
  return body instanceof Readable;
}

/**
 * Cancels the call when the client disconnects before its answer was sent: the handler's
 * `ctx.signal` aborts with `CALL_ABORTED`, on whichever node runs it. A hook the call fills in
 * rather than an `AbortSignal` per request, which would cost microseconds on every request.
 */
function clientGone(reply: FastifyReply, action: string): CancelHook {
  const hook: CancelHook = {};
  const res = reply.raw;
  res.once("close", () => {
    if (!res.writableFinished) {
      hook.cancel?.(new CallAbortedError(action, "the HTTP client disconnected"));
    }
  });
  return hook;
}

/** No route: a static file, a 405 when the path exists for other methods, else 404. */
function miss(
  state: DispatchState,
  request: FastifyRequest,
  reply: FastifyReply,
  method: string,
  path: string,
): unknown {
  if (state.staticFile !== undefined && method === "GET") {
    reply.header("x-request-id", request.id);
    return state.staticFile(request, reply, path);
  }
  const allowed = state.table.router.methodsAt(path);
  const err =
    allowed.length > 0
      ? new HttpEdgeError(`${method} is not allowed on ${path}.`, "METHOD_NOT_ALLOWED", 405, {
          headers: { allow: (allowed.includes("GET") ? [...allowed, "HEAD"] : allowed).join(", ") },
        })
      : new HttpEdgeError(`No route for ${method} ${path}.`, "NOT_FOUND", 404);
  return sendProblem(reply, err, request.id, state.problems);
}

/** The path of a request URL without the query, with `//` collapsed and no trailing `/`. */
export function pathOf(url: string): string {
  const q = url.indexOf("?");
  let path = q === -1 ? url : url.slice(0, q);
  if (path.includes("//")) path = path.replace(/\/{2,}/g, "/");
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return path;
}

function badPath(err: unknown): unknown {
  return err instanceof BadPathError ? new HttpEdgeError(err.message, "BAD_REQUEST", 400) : err;
}

/**
 * The action of a known route vanished between the table build and the call (its node left):
 * to the HTTP client that is "try again later", not "no such thing".
 */
function goneAsUnavailable(err: unknown, route: GatewayRoute): unknown {
  if (!(err instanceof FlotillaError) || err.code !== "SERVICE_NOT_FOUND") return err;
  const action = (err.data as { action?: unknown } | undefined)?.action;
  return action === route.action ? new ServiceNotAvailableError(route.action, { cause: err }) : err;
}
