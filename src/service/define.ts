import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { DatabaseDeclaration, DataContextOf } from "../data/types.js";
import type {
  ActionsInput,
  AnyServiceDefinition,
  Dependency,
  EventsInput,
  LifecycleHooks,
  ReturnsInput,
  ServiceDefinition,
  Settings,
  TimerDefinition,
} from "./types.js";

/** Payload schemas of the events a service emits: `{ "orders.created": z.object({...}) }`. */
export type EmitsDeclaration = Record<string, StandardSchemaV1>;

/**
 * What `defineService` accepts; `A`/`E` are inferred from the schemas, `R` from the actions'
 * `returns`, `AC`/`EC` keep the rest, `DB` comes from `database` and types `ctx.db`, `EM` is
 * the `emits` declaration.
 */
export type ServiceInput<
  N extends string,
  V,
  A,
  AC,
  E,
  EC,
  St,
  DB = never,
  R = unknown,
  EM extends EmitsDeclaration = Record<never, never>,
> = {
  name: N;
  version?: V;
  settings?: St;
  dependencies?: readonly Dependency[];
  /** The service's own database: `defineDatabase<DB>({ migrations })`. Handlers get `ctx.db`. */
  database?: DatabaseDeclaration<DB>;
  actions?: ActionsInput<A, DataContextOf<NoInfer<DB>>, R> & ReturnsInput<R> & AC;
  events?: EventsInput<E, DataContextOf<NoInfer<DB>>> & EC;
  /** Events the service emits, with their payload schemas (types `ctx.emit`; part of its contract). */
  emits?: EM;
  metadata?: Record<string, unknown>;
  /** Periodic tasks: `{ sweep: { every: "30s", handler } }`. */
  timers?: Record<string, TimerDefinition<DataContextOf<NoInfer<DB>>>>;
} & LifecycleHooks<St, DataContextOf<NoInfer<DB>>>;

/**
 * Declares a service. Nothing runs until a broker creates it; the returned object is the
 * definition itself, typed so that `broker.call` can check names, params and results.
 *
 * @example
 * ```ts
 * export const math = defineService({
 *   name: "math",
 *   actions: {
 *     add: {
 *       params: z.object({ a: z.number(), b: z.number() }),
 *       handler: (ctx) => ctx.params.a + ctx.params.b,
 *     },
 *   },
 * });
 * declare module "flotilla" { interface Services { math: typeof math } }
 * ```
 */
export function defineService<
  const N extends string,
  A,
  AC,
  E,
  EC,
  St = Settings,
  const V extends string | number | undefined = undefined,
  DB = never,
  R = unknown,
  EM extends EmitsDeclaration = Record<never, never>,
>(def: ServiceInput<N, V, A, AC, E, EC, St, DB, R, EM>): ServiceDefinition<N, V, AC, EC, St, EM> {
  Object.defineProperty(def, SERVICE_BRAND, { value: true, enumerable: false });
  return def as ServiceDefinition<N, V, AC, EC, St, EM>;
}

/** Marks objects made by `defineService`, so loaders can tell them from other exports. */
const SERVICE_BRAND = Symbol.for("flotilla.service");

/** Whether a value was made by `defineService`. */
export function isServiceDefinition(value: unknown): value is AnyServiceDefinition {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[SERVICE_BRAND] === true
  );
}

/** The name actions are called under: `v2.users` for version 2, `users` without one. */
export function serviceFullName(name: string, version?: string | number): string {
  if (version === undefined) return name;
  return typeof version === "number" ? `v${version}.${name}` : `${version}.${name}`;
}

/** Normalizes a dependency to the full name `waitForServices` looks for. */
export function dependencyName(dep: Dependency): string {
  return typeof dep === "string" ? dep : serviceFullName(dep.name, dep.version);
}
