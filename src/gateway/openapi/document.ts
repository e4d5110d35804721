import type { JSONSchema } from "../../service/json-schema.js";
import type { OpenApiSettings } from "../options.js";
import { PROBLEM_SCHEMA } from "../problem.js";
import { toOpenApiPath } from "../route-pattern.js";
import type { GatewayRoute } from "../route-table.js";
import { buildOperation, type OperationContext } from "./operation.js";
import { SchemaComponents } from "./schemas.js";

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = JSONSchema & { openapi: string; paths: Record<string, JSONSchema> };

/** What the document is built from besides the routes. */
export interface DocumentSettings extends OpenApiSettings {
  wrapResponse: boolean;
  rateLimited: boolean;
}

const PROBLEM_RESPONSES: Record<string, string> = {
  BadRequest: "The request is malformed (bad JSON, a body that is not an object, a bad path).",
  Unauthorized: "Credentials are missing or invalid.",
  Forbidden: "The caller may not do this.",
  PayloadTooLarge: "The request body exceeds the size limit.",
  ValidationFailed: "The params do not match the action's schema; `errors` lists each issue.",
  TooManyRequests: "The client exceeded its rate limit; see the Retry-After header.",
  InternalError: "The action failed; the detail is withheld (quote the requestId).",
  ServiceUnavailable: "No node offers the action right now; try again later.",
  GatewayTimeout: "The action did not answer in time.",
};

/**
 * Builds the OpenAPI 3.1 document of the gateway's routes from the same schemas that validate
 * the calls. Operations are tagged by service; every error answer refers to the shared problem
 * schema.
 *
 * @example
 * ```ts
 * const doc = buildOpenApi(table.routes(), { title: "Shop", wrapResponse: false, rateLimited: false });
 * ```
 */
export function buildOpenApi(
  routes: readonly GatewayRoute[],
  settings: DocumentSettings,
): OpenApiDocument {
  const components = new SchemaComponents();
  const problemRef = components.define("Problem", { ...PROBLEM_SCHEMA });
  const context: OperationContext = {
    components,
    wrapResponse: settings.wrapResponse,
    rateLimited: settings.rateLimited,
    operationIds: new Set(),
    securitySchemes: {},
  };
  const paths: Record<string, JSONSchema> = {};
  const tags = new Set<string>();
  for (const route of routes) {
    const path = toOpenApiPath(route.pattern.path);
    paths[path] ??= {};
    const item = paths[path];
    const operation = buildOperation(route, context);
    for (const tag of operation.tags as string[]) tags.add(tag);
    item[route.pattern.method.toLowerCase()] = operation;
  }
  const info: JSONSchema = {
    title: settings.title ?? "Flotilla API",
    version: settings.version ?? "1.0.0",
  };
  if (settings.description !== undefined) info.description = settings.description;
  const document: OpenApiDocument = {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      schemas: components.schemas,
      responses: problemResponses(problemRef),
      ...(Object.keys(context.securitySchemes).length > 0
        ? { securitySchemes: context.securitySchemes }
        : {}),
    },
    tags: [...tags].sort().map((name) => ({ name })),
  };
  if (settings.servers !== undefined) document.servers = settings.servers;
  return document;
}

function problemResponses(schema: JSONSchema): Record<string, JSONSchema> {
  const out: Record<string, JSONSchema> = {};
  for (const [name, description] of Object.entries(PROBLEM_RESPONSES)) {
    out[name] = { description, content: { "application/problem+json": { schema } } };
  }
  return out;
}
