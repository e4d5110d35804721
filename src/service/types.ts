import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { DataAccess, DatabaseOptions } from "../data/types.js";
import type { ActionCacheOptions, Cache } from "../middleware/cache/options.js";
import type { BackoffOptions, RetryOptions } from "../middleware/resilience/backoff.js";
import type { BulkheadOptions } from "../middleware/resilience/bulkhead.js";
import type { Logger } from "../observability/logger.js";
import type {
  ContextHost,
  Fallback,
  InferOutput,
  Meta,
  Params,
  ParentContext,
} from "./call-types.js";
import type { CallFn, EmitFn } from "./typed.js";

export type { InferInput, InferOutput, Params } from "./call-types.js";

/**
 * One call or event delivery as its handler sees it: the params, the metadata carried down the
 * chain, the IDs that correlate the chain, and the time budget. `ctx.call` / `ctx.emit` pass all
 * of it on.
 *
 * @example
 * ```ts
 * async handler(ctx) {
 *   const user = await ctx.call("users.get", { id: ctx.params.userId });
 *   ctx.meta.lastUser = user.id; // seen by later calls in this chain
 * }
 * ```
 */
export interface Context<P = Params, M extends Meta = Meta> extends ParentContext {
  /** The broker (node) running this context. */
  readonly broker: ContextHost;
  /** Validated params (or event payload). */
  params: P;
  /** Metadata shared along the call chain. */
  meta: M;
  /** The ID of the context that made this call, if any. */
  readonly parentID: string | undefined;
  /** The full name of the calling service, if the call came from a handler. */
  readonly caller: string | undefined;
  /** The node the call came from. */
  readonly callerNodeID: string;
  /** The service that handles this context. */
  readonly service: ServiceInstance | undefined;
  /** A durable event's message ID: the same on every redelivery, so handlers can deduplicate. */
  messageID: string | undefined;
  /** A durable event's delivery attempt: 1 the first time. */
  attempt: number | undefined;
  /**
   * Aborts when the work is no longer wanted: the call's deadline passed, its caller cancelled
   * it (a gateway client that disconnected) or the caller's node left. Pass it on to what
   * supports it: `fetch`, the HTTP client, `setTimeout` from `node:timers/promises`.
   */
  readonly signal: AbortSignal;
  /** Calls an action as part of this context's chain (meta, IDs, level and budget carried on). */
  call: CallFn;
  /** Emits an event as part of this context's chain. */
  emit: EmitFn;
  /** Broadcasts an event as part of this context's chain. */
  broadcast: EmitFn;
  /**
   * The service's logger with this context bound: `requestID`, `action` (or `event`), and, when
   * the call is traced, `trace_id` and `span_id`. Made on first use.
   */
  readonly logger: Logger;
  /** The node's action cache: `ctx.cache.clean("products.*")` drops cached results (docs/caching.md). */
  readonly cache: Cache;
}

/** Where a context came from; decides its `caller`, level and inherited budget. */
export interface ContextInit<P> {
  params: P;
  meta?: Meta | undefined;
  parent?: ParentContext | undefined;
  /** The action or event this context runs. */
  name: string;
  service?: ServiceInstance | undefined;
  /** Time budget in ms (0 = none); capped by what the parent has left. */
  timeout?: number | undefined;
  requestID?: string | undefined;
  /** The node the call came from, when it came over the wire. */
  callerNodeID?: string | undefined;
  headers?: Record<string, string> | undefined;
  messageID?: string | undefined;
  attempt?: number | undefined;
  /** The caller's signal (`signal` call option): the context's `signal` follows it. */
  signal?: AbortSignal | undefined;
  /** For a call or event that came over the wire: its place in the chain on the caller's side. */
  origin?:
    | { level: number; parentID?: string | undefined; caller?: string | undefined }
    | undefined;
}

/** What a running service can reach of its broker. */
export interface ServiceHost {
  readonly nodeID: string;
  readonly call: CallFn;
  readonly emit: EmitFn;
  readonly broadcast: EmitFn;
}

/**
 * A service as it runs on a broker (the `Service` class): what lifecycle hooks and handlers get.
 */
export interface ServiceInstance<St = Settings> {
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
  /** The service's open database, while the broker runs (services that declare one). */
  readonly data: DataAccess | undefined;
}

/** A periodic task of a service (nameko's `@timer`). `X`: what the service adds to `ctx` (`db`). */
export interface TimerDefinition<X = unknown> {
  /** Run every this long: ms, or `"30s"`, `"5m"`... Give `every` or `cron`. */
  every?: number | string;
  /**
   * Run on a cron schedule (croner syntax): five fields, or six with seconds first; names
   * (`MON-FRI`, `JAN`), `L` (last day), `#` (nth weekday), `@hourly`-style nicknames. In the
   * process's time zone unless `timezone` is given.
   */
  cron?: string;
  /** The IANA time zone a `cron` schedule is read in (e.g. `"Europe/Berlin"`). */
  timezone?: string;
  /** Run on one instance of the service across the cluster (chosen from the registry). */
  singleton?: boolean;
  /** Also run once right after the service starts. Default false. */
  runOnStart?: boolean;
  /** Does the work. A run still busy when the next is due makes that one skip. */
  handler(ctx: Context<Params> & X): unknown;
}

/**
 * Who may call an action:
 * - `published`: anyone, including the HTTP gateway (the public API);
 * - `public` (default): any node of the cluster;
 * - `protected`: callers on the same node only;
 * - `private`: the service itself only (`ctx.call` from one of its own handlers).
 */
export type Visibility = "published" | "public" | "protected" | "private";

/**
 * Who may call an action, by the caller's identity: the `ctx.meta.user` the gateway sets from a
 * verified token (its `roles`/`role` and `scopes`/`scope`/`scp` claims). `roles`: at least one
 * of them; `scopes`: every one of them. `enforce: "gateway"` (default) checks HTTP requests at
 * the gateway; `"always"` also checks every call at the action's own node, so a service calling
 * the action directly needs the identity too.
 *
 * @example
 * ```ts
 * remove: { auth: { roles: ["admin"], enforce: "always" }, handler: (ctx) => drop(ctx.params) }
 * ```
 */
export interface ActionAuth {
  /** The caller needs at least one of these roles. */
  readonly roles?: readonly string[];
  /** The caller needs every one of these scopes. */
  readonly scopes?: readonly string[];
  /** Where it is checked: at the gateway only (default), or on every call at the action. */
  readonly enforce?: "gateway" | "always";
}

/**
 * What a handler may return: anything without a `returns` schema; with one, what the schema
 * accepts (or a promise of it), so a handler that drifts from its declared result fails to compile.
 */
export type HandlerResult<R> = R extends StandardSchemaV1
  ? StandardSchemaV1.InferInput<R> | Promise<StandardSchemaV1.InferInput<R>>
  : unknown;

/**
 * One action (request/reply handler) of a service. `S` is its params schema; `X` what the service
 * adds to `ctx` (`db` and `transaction` when it declares a database); `R` its `returns` schema.
 */
export interface ActionDefinition<S = undefined, X = unknown, R = undefined> {
  /** A Standard Schema (zod, valibot, arktype, ...) that validates and types `ctx.params`. */
  params?: S;
  /**
   * A Standard Schema of the result: types the handler's return value and typed calls' results,
   * documents the answer (OpenAPI, `flotilla contracts`), and is checked after each call in
   * development and tests (`RESULT_INVALID`), not in production unless asked (the broker's
   * `validation.results`). Checked, never applied: callers get the handler's value as it is.
   */
  returns?: R;
  /** Handles one call. Its (awaited) return value is the call's result. */
  handler(ctx: Context<InferOutput<S>> & X): HandlerResult<R>;
  /** Who may call it. Default `public`. */
  visibility?: Visibility;
  /** Roles and scopes the caller's identity (`ctx.meta.user`) needs. Default: none. */
  auth?: ActionAuth;
  /** Time budget in ms for a call to this action, unless the caller sets one. */
  timeout?: number;
  /** HTTP route(s) for the gateway, e.g. `"GET /users/:id"`. */
  rest?: string | readonly string[];
  /** Short text for docs (OpenAPI `summary`). */
  summary?: string;
  /** Longer text for docs. */
  description?: string;
  /**
   * A schema of the result, for documentation only (OpenAPI responses): neither typed nor
   * checked. Prefer `returns`, which does both; when both are given, `returns` is documented.
   */
  result?: StandardSchemaV1;
  /** Safe to retry: the resilience layer may call it again after a retryable failure. */
  idempotent?: boolean;
  /** Retry settings for calls to this action (needs `idempotent`); `false` never retries. */
  retry?: RetryOptions | false;
  /** Limits concurrent calls of this action on each node, with a bounded queue. */
  bulkhead?: BulkheadOptions | false;
  /** Answer with this instead of the handler's error (never for invalid params). */
  fallback?: Fallback;
  /**
   * Cache the results (`true`: every default): per key, made of the `keys` fields (params typed
   * by the schema, meta as `#name`; default every param), for `ttl`; in memory or in Redis by
   * the broker's `cacher`. Errors are never cached. See docs/caching.md.
   */
  cache?: ActionCacheOptions<NoInfer<InferOutput<S>>> | boolean;
  /**
   * Marks the action as on its way out: `true`, or what to use instead (`"use v2.users.get"`).
   * It still works; each caller (service, or node for calls from outside a service) is warned
   * about once in the provider's log, calls are counted per caller (`broker.health().deprecated`,
   * the `flotilla_deprecated_calls_total` metric), and the announcement marks it so
   * `flotilla actions` shows it.
   */
  deprecated?: boolean | string;
}

/** One event handler of a service. `S` is its payload schema; `X` as for actions. */
export interface EventDefinition<S = undefined, X = unknown> {
  /** A Standard Schema that validates and types the payload (`ctx.params`). */
  params?: S;
  /**
   * The balancing group: an emitted event reaches one handler per group. Default: the service's
   * full name, so each service gets the event once however many instances it runs.
   */
  group?: string;
  /** Handles one event. A throw is logged; it never reaches the emitter. */
  handler(ctx: Context<InferOutput<S>> & X): unknown;
  /**
   * At-least-once delivery: on a transporter that persists (amqp://, nats:// with JetStream,
   * redis:// with Streams) the group has its own persistent subscription, acknowledged only after
   * the handler succeeds. Elsewhere retries and dead letters still apply, in memory.
   */
  durable?: boolean;
  /** Durable: retries after the first failure before dead-lettering. Default 5. */
  maxRetries?: number;
  /** Durable: delay between retries. Default 100 ms doubling to 10 s, with jitter. */
  backoff?: BackoffOptions;
  /** Durable: messages one instance handles at once. Default 10. */
  concurrency?: number;
  /** Durable: keep messages that exhausted their retries as dead letters. Default `true`. */
  deadLetter?: boolean;
  /**
   * Who gets each event (as nameko's handler types): one instance of the service or `group`
   * (`"balanced"`, default), every instance (`"broadcast"`), or exactly one handler in the whole
   * cluster, whichever service it belongs to (`"single"`). Applies to `emit`; `broadcast()`
   * still reaches every handler.
   */
  kind?: "balanced" | "broadcast" | "single";
  /**
   * Durable, in a service with a database: record the message ID in the same transaction as the
   * handler's writes (`ctx.db` is that transaction), so a redelivered message has its effect
   * once. A message already recorded is acknowledged without running the handler.
   */
  inbox?: boolean;
  /**
   * Marks this handler as on its way out (`true`, or what emitters should do instead): each
   * emitting service (or node) is warned about once, and deliveries are counted per emitter, as
   * for a deprecated action.
   */
  deprecated?: boolean | string;
}

/** A dependency: a service name (`"users"`, `"v2.users"`) or a name and version. */
export type Dependency = string | { name: string; version?: string | number };

/**
 * Typed view of the actions object: infers each action's schema from its `params`, and checks
 * its handler against its `returns` schema (`R`, inferred by {@link ReturnsInput}).
 */
export type ActionsInput<A, X = unknown, R = unknown> = {
  [K in keyof A]: ActionDefinition<A[K], X, K extends keyof R ? R[K] : undefined>;
};

/** Infers each action's `returns` schema (kept apart from `params`, which {@link ActionsInput} infers). */
export type ReturnsInput<R> = { [K in keyof R]: { returns?: R[K] } };

/** Typed view of the events object: infers each handler's schema from its `params`. */
export type EventsInput<E, X = unknown> = { [K in keyof E]: EventDefinition<E[K], X> };

/**
 * Lifecycle hooks; each receives the running service instance (with `db` and `transaction` when
 * the service declares a database: `X`).
 */
export interface LifecycleHooks<St, X = unknown> {
  /** Right after `createService`, before the broker starts (the database is not open yet). */
  created?(service: ServiceInstance<St>): void | Promise<void>;
  /** When the broker starts, after the service's dependencies are available and its database migrated. */
  started?(service: ServiceInstance<St> & X): void | Promise<void>;
  /** When the broker stops, in reverse dependency order (the database closes after it). */
  stopped?(service: ServiceInstance<St> & X): void | Promise<void>;
}

/**
 * A service definition as `defineService` returns it. The type parameters record the literal
 * name, version, actions and events so calls can be type-checked end to end.
 */
export interface ServiceDefinition<
  N extends string = string,
  V extends string | number | undefined = string | number | undefined,
  AC = unknown,
  EC = unknown,
  St = Settings,
  EM = unknown,
> extends LifecycleHooks<St> {
  readonly name: N;
  readonly version?: V;
  readonly settings?: St;
  readonly dependencies?: readonly Dependency[];
  readonly actions?: AC;
  readonly events?: EC;
  /**
   * The events the service emits, with their payload schemas: `ctx.emit` / `broker.emit` of a
   * declared event is type-checked (once the service is listed in `Services`), and the schemas
   * are part of its contract (`flotilla contracts`). A declaration only: nothing is checked at
   * run time (the handlers' own schemas validate what they receive).
   */
  readonly emits?: EM;
  /** Free-form data published with the service in the registry. */
  readonly metadata?: Record<string, unknown>;
  /** Periodic tasks of the service. */
  readonly timers?: Record<string, TimerDefinition>;
  /** The service's own database (`defineDatabase`); its handlers get `ctx.db`. */
  readonly database?: DatabaseOptions;
}

/** Settings of a service without a declared settings type. */
export type Settings = Record<string, unknown>;

/**
 * Any service definition, whatever its inferred types. Built from `unknown` (not `any`) so that
 * `createService(defineService({...}))` does not feed `any` back into the inner inference.
 */
export type AnyServiceDefinition = ServiceDefinition<
  string,
  string | number | undefined,
  unknown,
  unknown,
  unknown
>;
