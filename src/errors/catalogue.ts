import { ForbiddenError, UnauthorizedError } from "./access.js";
import { CacheConfigError, CacheValueError } from "./cache.js";
import { ConfigInvalidError, ConfigLoadError } from "./config.js";
import { ConflictError, DatabaseError, MigrationError, NoDatabaseError } from "./data.js";
import {
  BrokerStoppedError,
  CallAbortedError,
  CircuitOpenError,
  FlotillaError,
  MaxCallLevelError,
  QueueFullError,
  RequestTimeoutError,
  ResultInvalidError,
  ServiceNotAvailableError,
  ServiceNotFoundError,
  ServiceSchemaError,
  UnknownHookError,
  ValidationError,
  WaitTimeoutError,
} from "./errors.js";
import {
  BadPacketError,
  ConfigurationError,
  DeadLetterNotFoundError,
  DurablePublishError,
  JetStreamUnavailableError,
  MissingDependencyError,
  PacketTooLargeError,
  ResultNotSerializableError,
  TransporterNotConnectedError,
} from "./infrastructure.js";
import { NamekoRemoteError } from "./interop.js";
import { PayloadTooDeepError } from "./limits.js";
import { ContractBrokenError, ContractFileError, ContractSnapshotError } from "./snapshots.js";
import { StreamBrokenError, StreamNotRoutableError } from "./streams.js";

/** A class of error that {@link errorFromPlain} can rebuild by name. */
// biome-ignore lint/suspicious/noExplicitAny: constructor signatures differ per class; only the prototype is used.
export type ErrorClass = abstract new (...args: any[]) => Error;

/** One row of the catalogue: what `docs/errors.md` documents. */
export interface CatalogueEntry {
  name: string;
  code: string;
  status: number;
  retryable: boolean;
}

const classes = new Map<string, ErrorClass>();

/**
 * Makes a custom error class travel across nodes as itself: an error thrown on one node is
 * rebuilt on the caller as an instance of the class registered under the same name.
 *
 * @example
 * ```ts
 * class OutOfStockError extends FlotillaError {
 *   constructor(sku: string) { super(`${sku} is out of stock`, "OUT_OF_STOCK", 409); }
 * }
 * registerErrorClass(OutOfStockError);
 * ```
 */
export function registerErrorClass(cls: ErrorClass): void {
  classes.set(cls.name, cls);
}

/** Looks up a class registered with {@link registerErrorClass} (or built in). */
export function errorClassByName(name: string): ErrorClass | undefined {
  return classes.get(name);
}

for (const cls of [
  FlotillaError,
  ValidationError,
  ResultInvalidError,
  ServiceNotFoundError,
  ServiceNotAvailableError,
  RequestTimeoutError,
  CallAbortedError,
  MaxCallLevelError,
  ServiceSchemaError,
  UnknownHookError,
  BrokerStoppedError,
  WaitTimeoutError,
  QueueFullError,
  CircuitOpenError,
  ConfigurationError,
  MissingDependencyError,
  TransporterNotConnectedError,
  PacketTooLargeError,
  DurablePublishError,
  JetStreamUnavailableError,
  ResultNotSerializableError,
  DeadLetterNotFoundError,
  BadPacketError,
  PayloadTooDeepError,
  UnauthorizedError,
  ForbiddenError,
  DatabaseError,
  ConflictError,
  MigrationError,
  NoDatabaseError,
  ContractSnapshotError,
  ContractFileError,
  ContractBrokenError,
  StreamBrokenError,
  StreamNotRoutableError,
  ConfigInvalidError,
  ConfigLoadError,
  NamekoRemoteError,
  CacheConfigError,
  CacheValueError,
]) {
  registerErrorClass(cls);
}

/** The built-in errors with their codes: the table `docs/errors.md` must match. */
export const errorCatalogue: readonly CatalogueEntry[] = [
  new FlotillaError("x"),
  new ValidationError("x", []),
  new ResultInvalidError("x", []),
  new ServiceNotFoundError("x"),
  new ServiceNotAvailableError("x"),
  new RequestTimeoutError("x", 0),
  new CallAbortedError("x", "x"),
  new MaxCallLevelError(0),
  new ServiceSchemaError("x"),
  new UnknownHookError("x", "x", []),
  new BrokerStoppedError("x"),
  new WaitTimeoutError("x", 0),
  new QueueFullError("x"),
  new CircuitOpenError("x"),
  ...(
    [
      "INVALID_TRANSPORTER_URL",
      "UNKNOWN_TRANSPORTER",
      "UNKNOWN_SERIALIZER",
      "UNKNOWN_STRATEGY",
      "BALANCING_NOT_SUPPORTED",
      "JETSTREAM_NOT_ENABLED",
      "INVALID_SECRET",
      "INVALID_DATABASE_URL",
      "INVALID_TRACING_CONFIG",
      "INVALID_DISCOVERY_URL",
      "UNKNOWN_DISCOVERER",
      "INVALID_NAMEKO_OPTIONS",
      "NOT_REPLACEABLE",
    ] as const
  ).map((code) => new ConfigurationError("x", code)),
  new MissingDependencyError("x", "x"),
  new TransporterNotConnectedError("x"),
  new PacketTooLargeError(0, 0),
  new DurablePublishError("x"),
  new JetStreamUnavailableError("x"),
  new ResultNotSerializableError("x"),
  new DeadLetterNotFoundError("x"),
  new BadPacketError("x", "x"),
  new PayloadTooDeepError(0),
  new UnauthorizedError(),
  new ForbiddenError(),
  new DatabaseError("x"),
  new ConflictError(),
  new MigrationError("x", "x", "x"),
  new NoDatabaseError("x"),
  new ContractSnapshotError("x", "x"),
  new ContractFileError("x", "x"),
  new ContractBrokenError({ provider: "x", failures: [] }),
  new StreamBrokenError("x"),
  new StreamNotRoutableError("x"),
  new ConfigInvalidError("x", "x", "x"),
  new ConfigLoadError("x", "x"),
  new NamekoRemoteError("x", { excType: "x", excPath: "x", excArgs: [] }),
  new CacheConfigError("x", "INVALID_CACHER"),
  new CacheConfigError("x", "INVALID_CACHE_OPTIONS"),
  new CacheValueError("x", "x"),
].map(({ name, code, status, retryable }) => ({ name, code, status, retryable }));
