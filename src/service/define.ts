import type {
  ActionsInput,
  Dependency,
  EventsInput,
  LifecycleHooks,
  ServiceDefinition,
  Settings,
} from "./types.js";

/** What `defineService` accepts; `A`/`E` are inferred from the schemas, `AC`/`EC` keep the rest. */
export type ServiceInput<N extends string, V, A, AC, E, EC, St> = {
  name: N;
  version?: V;
  settings?: St;
  dependencies?: readonly Dependency[];
  actions?: ActionsInput<A> & AC;
  events?: EventsInput<E> & EC;
  metadata?: Record<string, unknown>;
} & LifecycleHooks<St>;

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
>(def: ServiceInput<N, V, A, AC, E, EC, St>): ServiceDefinition<N, V, AC, EC, St> {
  return def as ServiceDefinition<N, V, AC, EC, St>;
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
