import type { Logger } from "../observability/logger.js";
import { dependencyName, serviceFullName } from "./define.js";
import type { AnyServiceDefinition, ServiceHost, ServiceInstance, Settings } from "./types.js";

/**
 * A service as it runs on a broker: its definition plus the name it is called under, its
 * settings, a logger bound to it, and access to the broker. Lifecycle hooks receive it.
 */
export class Service<St = Settings> implements ServiceInstance<St> {
  /** The service name, e.g. `users`. */
  readonly name: string;
  /** The version, if any. */
  readonly version: string | number | undefined;
  /** The name actions are called under: `v2.users` or `users`. */
  readonly fullName: string;
  /** The definition's settings (an empty object when it has none). */
  readonly settings: St;
  /** Full names of the services this one waits for before `started`. */
  readonly dependencies: readonly string[];
  /** A child logger with `service` bound. */
  readonly logger: Logger;
  /** The broker this service runs on. */
  readonly broker: ServiceHost;
  /** The definition it was created from. */
  readonly definition: AnyServiceDefinition;

  constructor(definition: AnyServiceDefinition, broker: ServiceHost, logger: Logger) {
    this.definition = definition;
    this.name = definition.name;
    this.version = definition.version;
    this.fullName = serviceFullName(definition.name, definition.version);
    this.settings = (definition.settings ?? {}) as St;
    this.dependencies = (definition.dependencies ?? []).map(dependencyName);
    this.broker = broker;
    this.logger = logger.child({ service: this.fullName });
  }
}
