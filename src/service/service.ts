import type { DataAccess, TransactionScope } from "../data/types.js";
import { NoDatabaseError } from "../errors/index.js";
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
  /** The service's open database, while the broker runs (set by the broker). */
  data: DataAccess | undefined;

  constructor(definition: AnyServiceDefinition, broker: ServiceHost, logger: Logger) {
    this.definition = definition;
    this.name = definition.name;
    this.version = definition.version;
    this.fullName = serviceFullName(definition.name, definition.version);
    this.settings = (definition.settings ?? {}) as St;
    this.dependencies = (definition.dependencies ?? []).map(dependencyName);
    this.broker = broker;
    this.logger = logger.child({ service: this.fullName });
    this.data = undefined;
  }

  /** The service's database (typed in lifecycle hooks of a service that declares one). */
  get db(): unknown {
    return this.#data().dbFor(undefined);
  }

  /** Runs `fn` in a transaction of the service's database (see `ctx.transaction`). */
  transaction(fn: (tx: TransactionScope<unknown>) => Promise<unknown>): Promise<unknown> {
    return this.#data().transaction(undefined, fn, undefined);
  }

  #data(): DataAccess {
    if (this.data === undefined) throw new NoDatabaseError(this.fullName);
    return this.data;
  }
}
