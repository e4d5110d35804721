// The public API of flotilla. Everything a user imports is listed here explicitly.
export { ServiceBroker } from "./broker/broker.js";
export { Context } from "./broker/context.js";
export type { BrokerState } from "./broker/lifecycle.js";
export type {
  BrokerHealth,
  BrokerOptions,
  CallOptions,
  EmitOptions,
  Meta,
} from "./broker/options.js";
export {
  BrokerStoppedError,
  type CatalogueEntry,
  CircuitOpenError,
  type ErrorClass,
  errorCatalogue,
  errorFromPlain,
  errorToPlain,
  FlotillaError,
  type FlotillaErrorOptions,
  MaxCallLevelError,
  type PlainError,
  QueueFullError,
  RequestTimeoutError,
  registerErrorClass,
  ServiceNotAvailableError,
  ServiceNotFoundError,
  ServiceSchemaError,
  UnknownHookError,
  ValidationError,
  type ValidationIssue,
  WaitTimeoutError,
} from "./errors/index.js";
export type { DeadLetters } from "./events/dead-letters.js";
export { createDeduplicator, memoryProcessedStore, type ProcessedStore } from "./events/dedupe.js";
export {
  type CallHandler,
  type EmitHandler,
  HOOK_NAMES,
  type Middleware,
} from "./middleware/hooks.js";
export type { Logger, LoggerOption, LoggerSettings } from "./observability/logger.js";
export type { ActionHandler, EventHandler, LocalAction, LocalListener } from "./registry/local.js";
export { defineService, serviceFullName } from "./service/define.js";
export { Service } from "./service/service.js";
export type {
  ActionMap,
  ActionName,
  CallFn,
  EmitFn,
  EventMap,
  Events,
  Services,
} from "./service/typed.js";
export type {
  ActionDefinition,
  AnyServiceDefinition,
  Dependency,
  EventDefinition,
  InferInput,
  InferOutput,
  Params,
  ServiceDefinition,
  Settings,
  Visibility,
} from "./service/types.js";
export type { TimerDefinition } from "./timers/timers.js";
export type { DeadLetter, DeadLetterInfo, DurableStreams } from "./transporters/durable.js";
