// The public API of flotilla. Everything a user imports is listed here explicitly.
export { ServiceBroker } from "./broker/broker.js";

export type { BrokerState } from "./broker/lifecycle.js";
export type { BrokerHealth, BrokerOptions } from "./broker/options.js";
export {
  type ConfigBrokerOptions,
  type ConfigDuration,
  type ConfigEnv,
  type ConfigInput,
  defineConfig,
  type FlotillaConfig,
} from "./cli/config/define.js";
export {
  type Affected,
  type CheckContext,
  type CompatibilityReport,
  type ContractChange,
  checkCompatibility,
} from "./contracts/compat.js";
export { formatReport } from "./contracts/report.js";
export type { Direction, SchemaChange } from "./contracts/schema-diff.js";
export { diffSchemas } from "./contracts/schema-diff.js";
export {
  type ActionContract,
  type ContractSnapshot,
  contractOfDefinition,
  type EventContract,
  type ServiceContract,
  snapshotOf,
} from "./contracts/snapshot.js";
export { formatSnapshot, readSnapshot, writeSnapshot } from "./contracts/snapshot-file.js";
export type { BrokerDatabaseOptions } from "./data/config.js";
export { defineDatabase } from "./data/define.js";
export { driverErrorOf } from "./data/errors.js";
export type {
  DatabaseDeclaration,
  DatabaseHealth,
  DatabaseOptions,
  DataContext,
  MigrationSource,
  OutboxEmitFn,
  OutboxEmitOptions,
  OutboxHealth,
  OutboxOptions,
  TransactionOptions,
  TransactionScope,
} from "./data/types.js";
export { type CacheConfigCode, CacheConfigError, CacheValueError } from "./errors/cache.js";
export { ConfigInvalidError, ConfigLoadError } from "./errors/config.js";
export {
  BadPacketError,
  BrokerStoppedError,
  CallAbortedError,
  type CatalogueEntry,
  CircuitOpenError,
  type ConfigurationCode,
  ConfigurationError,
  ConflictError,
  ContractSnapshotError,
  DatabaseError,
  DeadLetterNotFoundError,
  DurablePublishError,
  type ErrorClass,
  errorCatalogue,
  errorFromPlain,
  errorToPlain,
  FlotillaError,
  type FlotillaErrorOptions,
  ForbiddenError,
  JetStreamUnavailableError,
  MaxCallLevelError,
  MigrationError,
  MissingDependencyError,
  NoDatabaseError,
  PacketTooLargeError,
  PayloadTooDeepError,
  type PlainError,
  QueueFullError,
  RequestTimeoutError,
  ResultInvalidError,
  ResultNotSerializableError,
  registerErrorClass,
  ServiceNotAvailableError,
  ServiceNotFoundError,
  ServiceSchemaError,
  StreamBrokenError,
  StreamNotRoutableError,
  TransporterNotConnectedError,
  UnauthorizedError,
  UnknownHookError,
  ValidationError,
  type ValidationIssue,
  WaitTimeoutError,
} from "./errors/index.js";
export { type NamekoErrorData, NamekoRemoteError } from "./errors/interop.js";
export { createDeduplicator, memoryProcessedStore, type ProcessedStore } from "./events/dedupe.js";
export type { DeadLetters } from "./events/durable/dead-letters.js";
export {
  type CallerContext,
  createHttpClient,
  type HttpClient,
  type HttpClientOptions,
  HttpError,
  type HttpRequestOptions,
  type HttpResponse,
} from "./http/index.js";
export {
  NAMEKO_META_KEY,
  type NamekoBridge,
  type NamekoBridgeOptions,
  type NamekoContext,
  type NamekoMethods,
  type NamekoService,
  namekoArgs,
  namekoBridge,
} from "./interop/nameko/index.js";
export type { Cache } from "./middleware/cache/cache.js";
export type {
  ActionCacheOptions,
  CacheCounts,
  CacheHealth,
  CacheKey,
  CacheParamPath,
  CacherOption,
  MemoryCacherOptions,
  RedisCacherOptions,
} from "./middleware/cache/options.js";
export {
  type CallHandler,
  type EmitHandler,
  HOOK_NAMES,
  type Middleware,
} from "./middleware/hooks.js";
export type { ValidationOptions } from "./middleware/validation/middleware.js";
export { startHealthServer } from "./observability/health-server.js";
export {
  DEFAULT_REDACT,
  type Logger,
  type LoggerOption,
  type LoggerSettings,
} from "./observability/logger.js";
export type { BrokerMetrics } from "./observability/metrics/broker-metrics.js";
export type { MetricsOptions } from "./observability/metrics/options.js";
export type { TraceExporterName, TracingOptions } from "./observability/tracing/options.js";
export type { DeprecatedUse } from "./registry/deprecations.js";
export {
  type Discoverer,
  type DiscovererContext,
  type DiscovererFactory,
  type DiscovererOptions,
  type DiscoveryOption,
  knownDiscoverySchemes,
  parseDiscoveryUrl,
  resolveDiscoverer,
} from "./registry/discoverers/index.js";
export type { ActionHandler, EventHandler, LocalAction, LocalListener } from "./registry/local.js";
export type {
  Candidate,
  NodeStats,
  SelectRequest,
  ShardOptions,
  Strategy,
  StrategyOption,
} from "./registry/strategies/index.js";
export type { SecurityOptions } from "./security/secret.js";
export type { Serializer } from "./serializers/index.js";
export type {
  CallOptions,
  ContextHost,
  EmitOptions,
  Fallback,
  Meta,
  ParentContext,
} from "./service/call-types.js";
export { defineService, serviceFullName } from "./service/define.js";
export { type JSONSchema, jsonSchemaGap, withJSONSchema } from "./service/json-schema.js";
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
  ActionAuth,
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
export {
  type DeadLetter,
  type DeadLetterInfo,
  type DurableConsumeOptions,
  type DurableMessage,
  type DurableStreams,
  type DurableSubscription,
  knownTransporterSchemes,
  type MessageHandler,
  type PublishOptions,
  parseTransporterUrl,
  registerTransporter,
  resolveTransporter,
  type SubscribeOptions,
  type Transporter,
  type TransporterCapabilities,
  type TransporterContext,
  type TransporterFactory,
} from "./transporters/index.js";
