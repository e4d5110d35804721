import { hostname } from "node:os";
import type { ServiceDatabase } from "../data/database.js";
import type { DatabaseHealth } from "../data/types.js";
import { ConfigurationError } from "../errors/index.js";
import { type DeadLetters, NO_DEAD_LETTERS } from "../events/durable/dead-letters.js";
import type { DurableEngine } from "../events/durable/engine.js";
import { openDurableEngine, warnIfDurableInMemory } from "../events/durable/open.js";
import { GroupPicker } from "../events/groups.js";
import { authorizationMiddleware } from "../middleware/auth/middleware.js";
import { type Cache, CacheEngine } from "../middleware/cache/cache.js";
import { resolveCacher } from "../middleware/cache/index.js";
import { cacheMiddleware, registerCache } from "../middleware/cache/middleware.js";
import type { Middleware } from "../middleware/hooks.js";
import { Pipeline } from "../middleware/pipeline.js";
import { bulkheadMiddleware } from "../middleware/resilience/bulkhead-middleware.js";
import { fallbackMiddleware } from "../middleware/resilience/fallback.js";
import { retryMiddleware } from "../middleware/resilience/retry.js";
import { retryPolicyFrom } from "../middleware/resilience/retry-policy.js";
import { timeoutMiddleware } from "../middleware/resilience/timeout.js";
import { validationMiddleware } from "../middleware/validation/middleware.js";
import { createLogger, type Logger } from "../observability/logger.js";
import {
  type BrokerMetrics,
  createBrokerMetrics,
  type MetricsRuntime,
} from "../observability/metrics/broker-metrics.js";
import { messagingSystemOf, tracingMiddleware } from "../observability/tracing/middleware.js";
import { type TracingInstallation, wantsTracingSdk } from "../observability/tracing/sdk-env.js";
import { refreshTracing } from "../observability/tracing/trace.js";
import { DeprecationLog, deprecationMiddleware } from "../registry/deprecations.js";
import {
  DEPRECATIONS_SERVICE,
  declaresDeprecated,
  deprecationsService,
} from "../registry/deprecations-service.js";
import { Registry } from "../registry/registry.js";
import { nodeStats } from "../registry/stats.js";
import { resolveStrategy, type Strategy } from "../registry/strategies/index.js";
import { waitForAvailable } from "../registry/wait.js";
import { resolveSerializer, type Serializer } from "../serializers/index.js";
import { dependencyName } from "../service/define.js";
import type { Service } from "../service/service.js";
import type { CallFn, EmitFn } from "../service/typed.js";
import type { AnyServiceDefinition, Dependency } from "../service/types.js";
import { TimerRunner } from "../timers/timers.js";
import { DEFAULT_MAX_PACKET_SIZE } from "../transit/core.js";
import { openTransit } from "../transit/open.js";
import type { Transit } from "../transit/transit.js";
import { serviceActivity } from "./activity.js";
import { drain } from "./drain.js";
import { Emitter } from "./emitter.js";
import { setInternals } from "./internals.js";
import { Invoker } from "./invoker.js";
import { type BrokerState, Lifecycle, type StartHost } from "./lifecycle.js";
import { loadService } from "./loader.js";
import type { BrokerHealth, BrokerOptions } from "./options.js";
import type { LocalNode } from "./remote.js";
import { destroyService, type ReplaceHost, replaceService } from "./replace.js";

/**
 * One node: hosts services, routes calls and events, runs middlewares, and starts and stops
 * everything in order. The work is done by small parts (invoker, emitter, lifecycle, loader);
 * this class wires them together.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ nodeID: "n1" });
 * broker.createService(math);
 * await broker.start();
 * const sum = await broker.call("math.add", { a: 1, b: 2 });
 * await broker.stop();
 * ```
 */
export class ServiceBroker {
  readonly nodeID: string;
  readonly namespace: string;
  readonly logger: Logger;
  readonly registry = new Registry();
  readonly options: Readonly<BrokerOptions>;
  /** Calls an action by name; typed for services listed in `Services`. */
  call!: CallFn;
  /** Emits an event to one handler per subscribing group. */
  emit!: EmitFn;
  /** Emits an event to every handler. */
  broadcast!: EmitFn;
  readonly #pipeline = new Pipeline();
  readonly #invoker: Invoker;
  readonly #emitter: Emitter;
  readonly #lifecycle = new Lifecycle();
  readonly #databases = new Map<Service, ServiceDatabase>();
  readonly #timers: TimerRunner;
  /** Durable events (streams, retries, dead letters), from connect to disconnect. */
  #durable: DurableEngine | undefined;
  readonly #serializer: Serializer;
  readonly #strategy: Strategy;
  #transit: Transit | undefined;
  /** The OpenTelemetry SDK this broker installed (shared by the brokers of the process). */
  #tracing: TracingInstallation | undefined;
  /** Prometheus metrics, when on (`metrics` option, `$FLOTILLA_METRICS`). */
  readonly #metrics: MetricsRuntime | undefined;
  /** Callers of this node's deprecated actions and event handlers (`health().deprecated`). */
  readonly #deprecations = new DeprecationLog();
  /** Cached results of actions that declare `cache` (`cacher` option). */
  readonly #cache: CacheEngine;

  constructor(options: BrokerOptions = {}) {
    this.options = options;
    this.nodeID =
      options.nodeID ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.namespace = options.namespace ?? "";
    this.logger = createLogger(options.logger, {
      node: this.nodeID,
      ns: this.namespace || undefined,
    });
    this.#invoker = new Invoker(this, this.registry, {
      maxCallLevel: options.maxCallLevel ?? 100,
      preferLocal: options.preferLocal ?? true,
    });
    this.#serializer = resolveSerializer(options.serializer);
    this.#strategy = resolveStrategy(options.strategy, nodeStats(this.registry));
    const picker = new GroupPicker(this.nodeID, this.#strategy, options.preferLocal ?? true);
    this.#emitter = new Emitter(this, this.registry, this.logger, picker);
    this.#timers = new TimerRunner(this, this.registry, this.logger);
    // Built-in middlewares, innermost first: params are checked before a call takes a bulkhead
    // slot; the deadline covers the wait for a slot; a fallback covers all of it; retries wrap
    // outgoing calls. Users' middlewares wrap these.
    // The cache is innermost: it keys validated params, and a hit still passes authorization,
    // deadlines and bulkheads; a fallback's value is never cached.
    const cacher = resolveCacher(options.cacher, this);
    this.#cache = new CacheEngine(cacher, this.logger.child({ cacher: cacher?.store.kind }));
    registerCache(this, this.#cache);
    this.#pipeline.add(cacheMiddleware(this.#cache));
    if (options.validation !== false) {
      const validation = typeof options.validation === "object" ? options.validation : {};
      this.#pipeline.add(validationMiddleware(validation));
    }
    this.#pipeline.add(bulkheadMiddleware(options.bulkhead));
    this.#pipeline.add(timeoutMiddleware());
    this.#pipeline.add(fallbackMiddleware());
    // Outside the fallback, so a refused caller is never answered with the fallback value.
    this.#pipeline.add(authorizationMiddleware());
    if (options.retry !== false) {
      this.#pipeline.add(retryMiddleware(retryPolicyFrom(this.registry, options.retry)));
    }
    // One span per logical call, around its retries; handler spans show each attempt.
    if (options.tracing !== false) {
      this.#pipeline.add(
        tracingMiddleware({
          nodeID: this.nodeID,
          messagingSystem: messagingSystemOf(options.transporter),
        }),
      );
    }
    // Counts and times calls and events around their spans; not added at all when off.
    this.#metrics = createBrokerMetrics(this, options.metrics);
    if (this.#metrics !== undefined) this.#pipeline.add(this.#metrics.middleware);
    // Counts calls of deprecated actions per caller; other handlers are left unwrapped.
    this.#pipeline.add(deprecationMiddleware(this.#deprecations));
    for (const mw of options.middlewares ?? []) this.#pipeline.add(mw);
    // Counts each service's running handlers, so one service can be drained on its own.
    if (options.replaceable === true) this.#pipeline.add(serviceActivity(this).middleware);
    this.#rewire();
    setInternals(this, {
      pipeline: this.#pipeline,
      invoker: this.#invoker,
      emitter: this.#emitter,
      rewire: () => this.#rewire(),
      transit: () => this.#transit,
      crash: async () => {
        const transit = this.#detach();
        this.#closeDurable();
        this.#invoker.accepting = false;
        this.#emitter.accepting = false;
        this.#lifecycle.state = "stopped";
        await transit?.crash();
      },
    });
  }

  /** Where the broker is in its life. */
  get state(): BrokerState {
    return this.#lifecycle.state;
  }

  /** The emitter, for observers such as the test kit's `waitForEvent`. */
  get events(): Pick<Emitter, "observe"> {
    return this.#emitter;
  }

  /**
   * Adds a middleware. Handlers already registered are wrapped again, so order is kept:
   * later middlewares wrap earlier ones.
   */
  use(middleware: Middleware): this {
    this.#pipeline.add(middleware);
    middleware.created?.(this);
    this.#rewire();
    return this;
  }

  /**
   * Creates a service from its definition on this node. Its `created` hook runs now; `started`
   * runs when the broker starts (at once if it already has).
   */
  createService(definition: AnyServiceDefinition): Service {
    const { service, actions, listeners } = loadService(definition, this, this.logger);
    for (const action of actions) this.#pipeline.wrapAction(action);
    for (const listener of listeners) this.#pipeline.wrapEvent(listener);
    this.registry.addService(service, actions, listeners);
    // A node with deprecated members answers other nodes' `$deprecations.usage` calls.
    if (declaresDeprecated(definition) && !this.registry.services.has(DEPRECATIONS_SERVICE)) {
      this.createService(deprecationsService(this.#deprecations));
    }
    this.#lifecycle.trackCreated(definition.created?.(service));
    if (this.state === "started") {
      void this.#lifecycle.startAll([service], this.#startHost()).catch((err: unknown) => {
        this.logger.error(
          { err, service: service.fullName },
          `Service '${service.fullName}' failed to start`,
        );
      });
    }
    return service;
  }

  /**
   * Drains one local service and removes it while the node keeps running: the cluster stops
   * routing calls to it here, calls in flight finish (up to `drainTimeout`), its `stopped` hook
   * runs. Resolves `false` when no service of that full name runs here.
   *
   * @example
   * ```ts
   * await broker.destroyService("v2.users");
   * ```
   */
  destroyService(fullName: string): Promise<boolean> {
    if (this.options.replaceable !== true) return Promise.reject(notReplaceable());
    return destroyService(this.#replaceHost(), fullName);
  }

  /**
   * Swaps the running service of the same full name for a new definition (or adds it), without
   * stopping the node: the new one is checked, the old one drained and stopped, the new one
   * created and started. Other nodes see the service's actions go and come back.
   *
   * @example
   * ```ts
   * await broker.replaceService(defineService({ name: "math", actions: { add: (ctx) => 0 } }));
   * ```
   */
  replaceService(definition: AnyServiceDefinition): Promise<Service> {
    if (this.options.replaceable !== true) return Promise.reject(notReplaceable());
    return replaceService(this.#replaceHost(), definition);
  }

  #replaceHost(): ReplaceHost {
    const connected = this.#transit !== undefined;
    return {
      host: this,
      registry: this.registry,
      pipeline: this.#pipeline,
      lifecycle: this.#lifecycle,
      start: this.#startHost(),
      logger: this.logger,
      state: this.state,
      activity: serviceActivity(this),
      drainTimeout: this.options.drainTimeout ?? 10_000,
      grace: connected ? Math.min(200, this.options.heartbeatInterval ?? 1_000) : 0,
    };
  }

  /** Starts every service (dependencies first). Rejects, with nothing left running, if one fails. */
  async start(): Promise<void> {
    if (this.state === "started" || this.state === "starting") return;
    this.#lifecycle.state = "starting";
    this.#invoker.accepting = true;
    this.#emitter.accepting = true;
    try {
      await this.#startTracing();
      await this.#pipeline.run("starting", this);
      await this.#connect();
      await this.#lifecycle.startAll([...this.registry.services.values()], this.#startHost());
      await this.#pipeline.run("started", this);
    } catch (err) {
      await this.#disconnect();
      await this.#stopTracing();
      this.#lifecycle.state = "stopped";
      this.#invoker.accepting = false;
      this.#emitter.accepting = false;
      throw err;
    }
    this.#lifecycle.state = "started";
    if (this.#durable?.persistent !== true) warnIfDurableInMemory(this.registry, this.logger);
    this.logger.info(
      { services: [...this.registry.services.keys()] },
      `Node '${this.nodeID}' started with ${this.registry.services.size} service(s)`,
    );
  }

  /**
   * Stops the node gracefully: tells the cluster it takes no new work, lets in-flight requests
   * from other nodes and event handlers finish (up to `drainTimeout`), stops services in reverse
   * order of start, says goodbye and disconnects. Then new calls are refused.
   */
  async stop(): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping" || this.state === "created") {
      this.#lifecycle.state = "stopped";
      return;
    }
    this.#lifecycle.state = "stopping";
    await this.#pipeline.run("stopping", this);
    await drain({
      transit: this.#transit,
      durable: this.#durable,
      emitter: this.#emitter,
      logger: this.logger,
      timeout: this.options.drainTimeout ?? 10_000,
      heartbeatInterval: this.options.heartbeatInterval ?? 1_000,
    });
    await this.#lifecycle.stopAll(this.#startHost());
    await this.#disconnect();
    this.#invoker.accepting = false;
    this.#emitter.accepting = false;
    await this.#pipeline.run("stopped", this);
    await this.#stopTracing();
    this.#lifecycle.state = "stopped";
    this.logger.info(`Node '${this.nodeID}' stopped`);
  }

  /**
   * Liveness, readiness and the state of each service, for health probes. Not ready while
   * starting, draining or cut off from the transporter.
   *
   * @example
   * ```ts
   * const { ready, services } = broker.health();
   * ```
   */
  health(): BrokerHealth {
    const transit = this.#transit;
    const services: Record<string, "started" | "stopped"> = {};
    for (const name of this.registry.services.keys()) {
      services[name] = this.registry.isStarted(name) ? "started" : "stopped";
    }
    const databases: Record<string, DatabaseHealth> = {};
    for (const [name, service] of this.registry.services) {
      if (service.data !== undefined) databases[name] = service.data.health();
    }
    return {
      nodeID: this.nodeID,
      state: this.state,
      live: this.state !== "stopped",
      ready:
        this.state === "started" &&
        (transit === undefined || transit.connected) &&
        Object.values(databases).every((d) => d.ok),
      transporter:
        transit === undefined
          ? undefined
          : { connected: transit.connected, badPackets: transit.badPackets },
      inFlight: (transit?.inFlight ?? 0) + this.#emitter.running,
      services,
      databases,
      deprecated: this.#deprecations.list(),
      cache: this.#cache.health(),
      uptime: Math.round(process.uptime()),
    };
  }

  /**
   * Dead letters of durable handlers: kept by the message broker when the transporter persists,
   * else in this process. List them, and replay one to its group.
   *
   * @example
   * ```ts
   * for (const letter of await broker.deadLetters.list()) await broker.deadLetters.replay(letter.id);
   * ```
   */
  get deadLetters(): DeadLetters {
    return this.#durable?.deadLetters ?? NO_DEAD_LETTERS;
  }

  /**
   * The node's action cache (`cacher` option): clean cached results by action pattern.
   *
   * @example
   * ```ts
   * await broker.cache.clean("products.*");
   * ```
   */
  get cache(): Cache {
    return this.#cache;
  }

  /**
   * The node's Prometheus metrics (`metrics` option), or `undefined` when they are off.
   *
   * @example
   * ```ts
   * const text = await broker.metrics?.text();
   * ```
   */
  get metrics(): BrokerMetrics | undefined {
    return this.#metrics;
  }

  /**
   * Resolves once every named service is available (started here, or announced by another node).
   * Rejects with `WaitTimeoutError` naming the missing ones after `timeout` ms (0 waits forever).
   */
  waitForServices(
    names: Dependency | readonly Dependency[],
    timeout = this.options.dependencyTimeout ?? 30_000,
    signal?: AbortSignal,
  ): Promise<void> {
    const wanted = (Array.isArray(names) ? names : [names]).map(dependencyName);
    return waitForAvailable(this.registry, wanted, timeout, signal);
  }

  /**
   * Installs the OpenTelemetry SDK when asked to (the option, or `$OTEL_TRACES_EXPORTER`), then
   * checks whether spans are recorded and wraps the handlers again to match: without an SDK
   * nothing is wrapped.
   */
  async #startTracing(): Promise<void> {
    const option = this.options.tracing;
    if (option === false) return;
    if (this.#tracing === undefined && wantsTracingSdk(option)) {
      const { installTracing } = await import("../observability/tracing/setup.js");
      this.#tracing = await installTracing(option === true ? {} : (option ?? {}), {
        serviceNames: [...this.registry.services.keys()],
        logger: this.logger,
        nodeID: this.nodeID,
      });
    }
    refreshTracing();
    this.#rewire();
  }

  /** Sends the spans still buffered, and removes the SDK if this was its last broker. */
  async #stopTracing(): Promise<void> {
    const installed = this.#tracing;
    this.#tracing = undefined;
    await installed?.release();
  }

  #startHost(): StartHost {
    return {
      logger: this.logger,
      prepare: (service) => this.#openDatabase(service),
      release: async (service) => {
        const database = this.#databases.get(service);
        if (database === undefined) return;
        this.#databases.delete(service);
        service.data = undefined;
        await database.close();
      },
      waitFor: (names: readonly string[], signal: AbortSignal) =>
        waitForAvailable(this.registry, names, this.options.dependencyTimeout ?? 30_000, signal),
      markAvailable: async (service: Service, available: boolean) => {
        if (available) {
          await this.#durable?.start(this.registry.listeners.filter((l) => l.service === service));
          await this.#transit?.serviceStarted(service);
        }
        this.registry.setStarted(service.fullName, available);
        this.#transit?.discovery.localChanged();
        if (available) this.#timers.start(service);
        else this.#timers.stop(service);
      },
    };
  }

  /** Opens, migrates and starts the outbox relay of a service's database, if it declares one. */
  async #openDatabase(service: Service): Promise<void> {
    const options = service.definition.database;
    if (options === undefined || this.#databases.has(service)) return;
    // Loaded on first use: nodes without databases never load Kysely or a driver.
    const { ServiceDatabase } = await import("../data/database.js");
    const database = await ServiceDatabase.open(options, {
      service: service.fullName,
      nodeID: this.nodeID,
      logger: service.logger,
      publish: (event, payload, opts) => this.#emitter.emit(event, payload, opts),
      maxPacketSize: this.options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE,
      defaults: this.options.database,
    });
    try {
      await database.migrate();
    } catch (err) {
      await database.close();
      throw err;
    }
    this.#databases.set(service, database);
    service.data = database;
    database.relay.start({ publish: options.outbox?.relay !== false });
  }

  /** With a transporter: connects, joins the cluster, and routes calls to other nodes. */
  async #connect(): Promise<void> {
    const invoker = this.#invoker;
    const emitter = this.#emitter;
    const local: LocalNode = {
      host: this,
      get acceptingCalls() {
        return invoker.accepting;
      },
      callFromRemote: (action, ctx) => invoker.callFromRemote(action, ctx),
      receiveEvent: (event, acked) => emitter.receive(event, acked),
      // Internal events reach local handlers only; a stopped node simply has none to run.
      emitInternal: (event, payload) => {
        emitter.broadcast(event, payload, undefined).catch(() => undefined);
      },
    };
    const deps = {
      nodeID: this.nodeID,
      namespace: this.namespace,
      logger: this.logger,
      registry: this.registry,
      local,
      traffic: this.#metrics?.traffic,
    };
    this.#transit = await openTransit(deps, this.options, this.#serializer, this.#strategy);
    invoker.remote = this.#transit;
    emitter.remote = this.#transit;
    this.#durable = openDurableEngine({
      nodeID: this.nodeID,
      namespace: this.namespace,
      serializer: this.#serializer,
      logger: this.logger,
      maxPacketSize: this.options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE,
      transporter: this.#transit?.core.transporter,
      deliver: (listener, init) => this.#emitter.run(listener, init),
    });
    this.#emitter.durable = this.#durable;
  }

  async #disconnect(): Promise<void> {
    const transit = this.#detach();
    await this.#durable?.stop();
    this.#closeDurable();
    await transit?.disconnect();
  }

  /** Stops routing to other nodes; returns the transit to disconnect. */
  #detach(): Transit | undefined {
    const transit = this.#transit;
    this.#transit = undefined;
    this.#invoker.remote = undefined;
    this.#emitter.remote = undefined;
    return transit;
  }

  #closeDurable(): void {
    this.#durable?.close();
    this.#durable = undefined;
    this.#emitter.durable = undefined;
  }

  /** Re-applies the middleware list to every handler and to call/emit/broadcast. */
  #rewire(): void {
    for (const action of this.registry.actions.values()) this.#pipeline.wrapAction(action);
    for (const listener of this.registry.listeners) this.#pipeline.wrapEvent(listener);
    const invoker = this.#invoker;
    const emitter = this.#emitter;
    this.call = this.#pipeline.wrapCall((n, p, o) => invoker.call(n, p, o)) as CallFn;
    this.emit = this.#pipeline.wrapEmit((e, p, o) => emitter.emit(e, p, o), "emit") as EmitFn;
    this.broadcast = this.#pipeline.wrapEmit(
      (e, p, o) => emitter.broadcast(e, p, o),
      "broadcast",
    ) as EmitFn;
  }
}

function notReplaceable(): ConfigurationError {
  return new ConfigurationError(
    "Services of this broker cannot be replaced while it runs: create it with `replaceable: true`.",
    "NOT_REPLACEABLE",
  );
}
