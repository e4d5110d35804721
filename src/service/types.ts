import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { Context } from "../broker/context.js";
import type { BackoffOptions } from "../middleware/resilience/backoff.js";
import type { BulkheadOptions } from "../middleware/resilience/bulkhead.js";
import type { Fallback } from "../middleware/resilience/fallback.js";
import type { RetryOptions } from "../middleware/resilience/retry.js";
import type { TimerDefinition } from "../timers/timers.js";
import type { Service } from "./service.js";

/** Params of an action (or payload of an event) that declares no schema. */
export type Params = Record<string, unknown>;

/** The type a schema accepts: what callers pass. */
export type InferInput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : Params;

/** The type a schema produces after validation (and coercion): what handlers see. */
export type InferOutput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : Params;

/**
 * Who may call an action:
 * - `published`: anyone, including the HTTP gateway (the public API);
 * - `public` (default): any node of the cluster;
 * - `protected`: callers on the same node only;
 * - `private`: the service itself only (`ctx.call` from one of its own handlers).
 */
export type Visibility = "published" | "public" | "protected" | "private";

/** One action (request/reply handler) of a service. `S` is its params schema. */
export interface ActionDefinition<S = undefined> {
  /** A Standard Schema (zod, valibot, arktype, ...) that validates and types `ctx.params`. */
  params?: S;
  /** Handles one call. Its (awaited) return value is the call's result. */
  handler(ctx: Context<InferOutput<S>>): unknown;
  /** Who may call it. Default `public`. */
  visibility?: Visibility;
  /** Time budget in ms for a call to this action, unless the caller sets one. */
  timeout?: number;
  /** HTTP route(s) for the gateway, e.g. `"GET /users/:id"`. */
  rest?: string | readonly string[];
  /** Short text for docs (OpenAPI `summary`). */
  summary?: string;
  /** Longer text for docs. */
  description?: string;
  /** A schema of the result, for documentation (OpenAPI responses). Not enforced. */
  result?: StandardSchemaV1;
  /** Safe to retry: the resilience layer may call it again after a retryable failure. */
  idempotent?: boolean;
  /** Retry settings for calls to this action (needs `idempotent`); `false` never retries. */
  retry?: RetryOptions | false;
  /** Limits concurrent calls of this action on each node, with a bounded queue. */
  bulkhead?: BulkheadOptions | false;
  /** Answer with this instead of the handler's error (never for invalid params). */
  fallback?: Fallback;
}

/** One event handler of a service. `S` is its payload schema. */
export interface EventDefinition<S = undefined> {
  /** A Standard Schema that validates and types the payload (`ctx.params`). */
  params?: S;
  /**
   * The balancing group: an emitted event reaches one handler per group. Default: the service's
   * full name, so each service gets the event once however many instances it runs.
   */
  group?: string;
  /** Handles one event. A throw is logged; it never reaches the emitter. */
  handler(ctx: Context<InferOutput<S>>): unknown;
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
}

/** A dependency: a service name (`"users"`, `"v2.users"`) or a name and version. */
export type Dependency = string | { name: string; version?: string | number };

/** Typed view of the actions object: infers each action's schema from its `params`. */
export type ActionsInput<A> = { [K in keyof A]: ActionDefinition<A[K]> };

/** Typed view of the events object: infers each handler's schema from its `params`. */
export type EventsInput<E> = { [K in keyof E]: EventDefinition<E[K]> };

/** Lifecycle hooks; each receives the running service instance. */
export interface LifecycleHooks<St> {
  /** Right after `createService`, before the broker starts. */
  created?(service: Service<St>): void | Promise<void>;
  /** When the broker starts, after the service's dependencies are available. */
  started?(service: Service<St>): void | Promise<void>;
  /** When the broker stops, in reverse dependency order. */
  stopped?(service: Service<St>): void | Promise<void>;
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
> extends LifecycleHooks<St> {
  readonly name: N;
  readonly version?: V;
  readonly settings?: St;
  readonly dependencies?: readonly Dependency[];
  readonly actions?: AC;
  readonly events?: EC;
  /** Free-form data published with the service in the registry. */
  readonly metadata?: Record<string, unknown>;
  /** Periodic tasks of the service. */
  readonly timers?: Record<string, TimerDefinition>;
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
