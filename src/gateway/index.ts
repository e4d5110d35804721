// flotilla/gateway: the HTTP gateway. Everything a user imports from it is listed here.
export type { GatewayBroker } from "./dispatch.js";
export { ForbiddenError, HttpEdgeError, UnauthorizedError } from "./errors.js";
export { createGateway, type Gateway, type RouteInfo, startGateway } from "./gateway.js";
export { type JwtAuthOptions, jwtAuth } from "./jwt.js";
export { buildOpenApi, type DocumentSettings, type OpenApiDocument } from "./openapi/document.js";
export { describeAuth, type SecurityDescription } from "./openapi/security.js";
export type {
  AliasTarget,
  Authenticate,
  Authorize,
  AuthorizeInfo,
  GatewayOptions,
  OpenApiSettings,
  RateLimitSettings,
  RouteSettings,
} from "./options.js";
export { PROBLEM_SCHEMA, type Problem, type ProblemIssue, toProblem } from "./problem.js";
export { type GatewayServiceOptions, gatewayOf, gatewayService } from "./service.js";
