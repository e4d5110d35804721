// The public API of flotilla. Everything a user imports is listed here explicitly.
export { ServiceBroker } from "./broker/broker.js";

export type { BrokerState } from "./broker/lifecycle.js";
export type { BrokerHealth, BrokerOptions } from "./broker/options.js";
export {
  BadPacketError,
  BrokerStoppedError,
  type CatalogueEntry,
  CircuitOpenError,
  type ConfigurationCode,
  ConfigurationError,
  DeadLetterNotFoundError,
  DurablePublishError,
  type ErrorClass,
  errorCatalogue,
  errorFromPlain,
  errorToPlain,
  FlotillaError,
  type FlotillaErrorOptions,
  JetStreamUnavailableError,
  MaxCallLevelError,
  MissingDependencyError,
  PacketTooLargeError,
  type PlainError,
  QueueFullError,
  RequestTimeoutError,
  ResultNotSerializableError,
  registerErrorClass,
  ServiceNotAvailableError,
  ServiceNotFoundError,
  ServiceSchemaError,
  TransporterNotConnectedError,
  UnknownHookError,
  ValidationError,
  type ValidationIssue,
  WaitTimeoutError,
} from "./errors/index.js";
export { createDeduplicator, memoryProcessedStore, type ProcessedStore } from "./events/dedupe.js";
export type { DeadLetters } from "./events/durable/dead-letters.js";
export {
  type CallHandler,
  type EmitHandler,
  HOOK_NAMES,
  type Middleware,
} from "./middleware/hooks.js";
export type { Logger, LoggerOption, LoggerSettings } from "./observability/logger.js";
export type { ActionHandler, EventHandler, LocalAction, LocalListener } from "./registry/local.js";
export type {
  CallOptions,
  ContextHost,
  EmitOptions,
  Fallback,
  Meta,
  ParentContext,
} from "./service/call-types.js";
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
  Context,
  Dependency,
  EventDefinition,
  InferInput,
  InferOutput,
  Params,
  ServiceDefinition,
  ServiceHost,
  ServiceInstance,
  Settings,
  TimerDefinition,
  Visibility,
} from "./service/types.js";
export type { DeadLetter, DeadLetterInfo, DurableStreams } from "./transporters/durable.js";
