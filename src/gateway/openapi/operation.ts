import type { JSONSchema } from "../../service/json-schema.js";
import type { GatewayRoute } from "../route-table.js";
import { isObject, type SchemaComponents } from "./schemas.js";
import { securityOf } from "./security.js";

/** What every operation of one document shares. */
export interface OperationContext {
  components: SchemaComponents;
  wrapResponse: boolean;
  rateLimited: boolean;
  /** operationIds handed out so far: they must be unique in a document. */
  operationIds: Set<string>;
  /** Security schemes met so far, by name. */
  securitySchemes: Record<string, JSONSchema>;
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
const problem = (name: string) => ({ $ref: `#/components/responses/${name}` });

/**
 * The OpenAPI Operation Object of one route: path parameters from the pattern (typed by the
 * params schema when it names them), the other params as query parameters (GET, DELETE) or a
 * JSON request body (POST, PUT, PATCH), the result schema for the success answer, and the
 * problem answers the route can give.
 *
 * @example
 * ```ts
 * doc.paths["/users/{id}"].get = buildOperation(route, context);
 * ```
 */
export function buildOperation(route: GatewayRoute, context: OperationContext): JSONSchema {
  const info = route.info;
  const { method, paramNames } = route.pattern;
  const params =
    info?.params === undefined
      ? undefined
      : context.components.adopt(info.params, `${route.action}.params`);
  const properties = isObject(params?.properties) ? params.properties : undefined;
  const required = Array.isArray(params?.required) ? (params.required as string[]) : [];
  const parameters: JSONSchema[] = paramNames.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: (properties?.[name] as JSONSchema | undefined) ?? { type: "string" },
  }));
  const operation: JSONSchema = {
    operationId: uniqueId(route, context.operationIds),
    tags: [info?.service ?? route.action.split(".").slice(0, -1).join(".")],
  };
  if (info?.summary !== undefined) operation.summary = info.summary;
  if (info?.description !== undefined) operation.description = info.description;
  const rest = params === undefined ? undefined : withoutKeys(params, paramNames);
  if (BODY_METHODS.has(method)) {
    const schema = rest ?? { type: "object" };
    operation.requestBody = {
      required: Array.isArray(schema.required) && schema.required.length > 0,
      content: { "application/json": { schema } },
    };
  } else if (rest !== undefined) {
    parameters.push(...queryParameters(rest, required));
  }
  if (parameters.length > 0) operation.parameters = parameters;
  operation.responses = responses(route, params !== undefined, context);
  const security = securityOf(route.authenticate);
  if (security !== undefined) {
    context.securitySchemes[security.name] = security.scheme;
    operation.security = [{ [security.name]: [] }];
  }
  operation["x-flotilla-action"] = route.action;
  if (!route.available) operation["x-flotilla-available"] = false;
  return operation;
}

function responses(route: GatewayRoute, validated: boolean, context: OperationContext): JSONSchema {
  const result = route.info?.result;
  const data =
    result === undefined ? {} : context.components.adopt(result, `${route.action}.result`);
  const schema = context.wrapResponse
    ? { type: "object", required: ["code", "data"], properties: { code: { const: 0 }, data } }
    : data;
  const out: JSONSchema = {
    [String(route.status)]: {
      description: "The action's result.",
      content: { "application/json": { schema } },
    },
  };
  if (BODY_METHODS.has(route.pattern.method)) {
    out["400"] = problem("BadRequest");
    out["413"] = problem("PayloadTooLarge");
  }
  if (
    route.authenticate !== undefined ||
    route.authorize !== undefined ||
    route.access !== undefined
  ) {
    out["401"] = problem("Unauthorized");
    out["403"] = problem("Forbidden");
  }
  if (validated) out["422"] = problem("ValidationFailed");
  if (context.rateLimited) out["429"] = problem("TooManyRequests");
  out["500"] = problem("InternalError");
  out["503"] = problem("ServiceUnavailable");
  out["504"] = problem("GatewayTimeout");
  return out;
}

/** One query parameter per property; a schema that is not a plain object becomes one form-style parameter. */
function queryParameters(schema: JSONSchema, required: readonly string[]): JSONSchema[] {
  const properties = schema.properties;
  if (
    schema.type === "object" &&
    isObject(properties) &&
    !("anyOf" in schema || "oneOf" in schema)
  ) {
    return Object.entries(properties).map(([name, property]) => {
      const parameter: JSONSchema = {
        name,
        in: "query",
        required: required.includes(name),
        schema: property,
      };
      const description = isObject(property) ? property.description : undefined;
      if (typeof description === "string") parameter.description = description;
      return parameter;
    });
  }
  return [{ name: "params", in: "query", style: "form", explode: true, schema }];
}

/** A copy of an object schema without the given properties (the ones taken by the path). */
function withoutKeys(schema: JSONSchema, keys: readonly string[]): JSONSchema {
  if (keys.length === 0 || !isObject(schema.properties)) return schema;
  const properties = { ...schema.properties };
  for (const key of keys) delete properties[key];
  const out: JSONSchema = { ...schema, properties };
  if (Array.isArray(schema.required)) {
    out.required = (schema.required as string[]).filter((key) => !keys.includes(key));
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out;
}

function uniqueId(route: GatewayRoute, taken: Set<string>): string {
  let id = route.action;
  if (taken.has(id)) id = `${route.action}.${route.pattern.method.toLowerCase()}`;
  for (let n = 2; taken.has(id); n++)
    id = `${route.action}.${route.pattern.method.toLowerCase()}${n}`;
  taken.add(id);
  return id;
}
