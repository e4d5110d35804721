import Fastify, { type FastifyInstance } from "fastify";
import type { BrokerMetrics } from "../observability/metrics/broker-metrics.js";
import { DEFAULT_MAX_DEPTH } from "../serializers/depth.js";
import { clientErrorHandler } from "./client-error.js";
import { Compressor } from "./compress.js";
import { createDispatcher, type DispatchState, type GatewayBroker, pathOf } from "./dispatch.js";
import { registerDocs } from "./docs/routes.js";
import { registerEdge } from "./edge.js";
import { HttpEdgeError } from "./errors.js";
import { checkQueryEncoding, registerBodyParsers } from "./input.js";
import { buildOpenApi, type OpenApiDocument } from "./openapi/document.js";
import {
  DEFAULT_BODY_LIMIT,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type GatewayOptions,
  normalizePrefix,
} from "./options.js";
import { type ProblemContext, sendProblem } from "./reply.js";
import { requestIdOf } from "./request-id.js";
import { ROUTE_METHODS } from "./route-pattern.js";
import { RouteTable } from "./route-table.js";

/** One route as `gateway.routes()` lists it. */
export interface RouteInfo {
  method: string;
  /** The full path pattern, prefix included, e.g. `/api/users/:id`. */
  path: string;
  action: string;
  source: "rest" | "alias";
  /** False while no node offers the action (the route answers 503). */
  available: boolean;
}

/** A running (or ready) gateway. */
export interface Gateway {
  /** The Fastify instance: add routes, hooks or plugins before `listen()`; `inject()` in tests. */
  readonly app: FastifyInstance;
  /** `http://host:port` once listening, else `undefined`. */
  readonly address: string | undefined;
  /** Starts listening on the configured port and host; resolves with the address. */
  listen(): Promise<string>;
  /** The current routes, available or not. */
  routes(): RouteInfo[];
  /** The current OpenAPI document (the object served at `/openapi.json`). */
  openapi(): OpenApiDocument;
  /** Stops listening (in-flight requests finish first) and stops following the cluster. */
  close(): Promise<void>;
}

/**
 * Builds a gateway on `broker` without listening: routes come from the `rest` routes of the
 * cluster's published actions plus `aliases`, and follow the cluster as services come and go.
 * Use `inject()` on `gateway.app` in tests, or `gateway.listen()`.
 *
 * @example
 * ```ts
 * const gateway = await createGateway(broker, { prefix: "/api" });
 * const res = await gateway.app.inject({ method: "GET", url: "/api/users/1" });
 * ```
 */
export async function createGateway(
  broker: GatewayBroker,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const prefix = normalizePrefix(options.prefix);
  const logger = broker.logger.child({ component: "gateway" });
  const problems: ProblemContext = { logger, typeBase: options.problemTypeBase };
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    genReqId: requestIdOf,
    trustProxy: options.trustProxy ?? false,
    // Fastify would build a child logger per request; errors are logged by the gateway itself.
    ...(options.logRequests === true ? { loggerInstance: logger } : { logger: false }),
    return503OnClosing: true,
    // Errors Fastify raises before routing (a URL that is not valid percent-encoding, ...).
    frameworkErrors: (err, request, reply) => sendProblem(reply, err, request.id, problems),
    // Requests Node's HTTP parser refuses never reach Fastify: answer those as problems too.
    clientErrorHandler: clientErrorHandler(logger, options.problemTypeBase),
  }) as unknown as FastifyInstance;
  const table = new RouteTable(options, prefix, logger);
  let dirty = true;
  let scheduled = false;
  let document: OpenApiDocument | undefined;
  const refresh = () => {
    if (!dirty) return;
    dirty = false;
    table.rebuild(broker.registry.catalog());
    document = undefined;
  };
  // Rebuild soon after a change (so a route seen only briefly is still remembered as 503), and
  // at the latest on the next request.
  const unwatch = broker.registry.watch(() => {
    dirty = true;
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      refresh();
    });
  });
  refresh();

  app.setErrorHandler((err, request, reply) => sendProblem(reply, err, request.id, problems));
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    const err = new HttpEdgeError(`No route for ${request.method} ${path}.`, "NOT_FOUND", 404);
    return sendProblem(reply, err, request.id, problems);
  });
  registerBodyParsers(app, options.maxBodyDepth ?? DEFAULT_MAX_DEPTH);
  app.addHook("onRequest", checkQueryEncoding);
  const staticFile = await registerEdge(app, options);
  const compressor =
    options.compress === false
      ? undefined
      : new Compressor(typeof options.compress === "object" ? options.compress : {});
  const openapi = (): OpenApiDocument => {
    refresh();
    document ??= buildOpenApi(table.routes(), {
      ...(options.openapi === false ? {} : options.openapi),
      wrapResponse: options.wrapResponse === true,
      rateLimited: options.rateLimit !== undefined && options.rateLimit !== false,
    });
    return document;
  };
  if (options.openapi !== false) registerDocs(app, options.openapi ?? {}, openapi, compressor);
  if (options.metrics !== undefined && options.metrics !== false) {
    registerMetrics(app, options.metrics === true ? "/metrics" : options.metrics, broker, problems);
  }
  const state: DispatchState = {
    broker,
    table,
    refresh,
    results: { wrap: options.wrapResponse === true, compressor },
    problems,
    staticFile,
  };
  app.route({ method: [...ROUTE_METHODS], url: "/*", handler: createDispatcher(state) });
  // Not `ready()` yet: until `listen()` (or the first `inject()`), callers may still add their
  // own routes, hooks and plugins to `app`.

  let address: string | undefined;
  return {
    app,
    get address() {
      return address;
    },
    async listen() {
      address = await app.listen({
        port: options.port ?? DEFAULT_PORT,
        host: options.host ?? DEFAULT_HOST,
      });
      logger.info({ address }, `Gateway listening on ${address}`);
      return address;
    },
    routes: () => {
      refresh();
      return table.routes().map((route) => ({
        method: route.pattern.method,
        path: route.pattern.path,
        action: route.action,
        source: route.source,
        available: route.available,
      }));
    },
    openapi,
    async close() {
      unwatch();
      await app.close();
      address = undefined;
    },
  };
}

/**
 * `GET <path>`: the broker's Prometheus metrics, read when asked; a problem 404 when the broker
 * has none.
 */
function registerMetrics(
  app: FastifyInstance,
  path: string,
  broker: GatewayBroker & { readonly metrics?: Pick<BrokerMetrics, "contentType" | "text"> },
  problems: ProblemContext,
): void {
  app.get(path, async (request, reply) => {
    const metrics = broker.metrics;
    if (metrics === undefined) {
      const err = new HttpEdgeError("This node has no metrics.", "NOT_FOUND", 404);
      return sendProblem(reply, err, request.id, problems);
    }
    const text = await metrics.text();
    return reply.header("x-request-id", request.id).type(metrics.contentType).send(text);
  });
}

/**
 * {@link createGateway} and listen: the gateway is serving when the promise resolves.
 *
 * @example
 * ```ts
 * const gateway = await startGateway(broker, { port: 3000, prefix: "/api", cors: true });
 * console.log(`API on ${gateway.address}, docs on ${gateway.address}/docs`);
 * await gateway.close();
 * ```
 */
export async function startGateway(
  broker: GatewayBroker,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const gateway = await createGateway(broker, options);
  try {
    await gateway.listen();
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}
