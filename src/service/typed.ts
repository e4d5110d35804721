import type { CallOptions, EmitOptions, InferInput, Params } from "./call-types.js";

/**
 * The services whose calls are type-checked. Augment it with your service definitions:
 *
 * @example
 * ```ts
 * declare module "flotilla" {
 *   interface Services { math: typeof math; users: typeof users }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: an augmentation point, empty until users fill it.
export interface Services {}

/**
 * Events whose payloads are type-checked but that no listed service declares a schema for.
 *
 * @example
 * ```ts
 * declare module "flotilla" { interface Events { "orders.placed": { orderId: number } } }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: an augmentation point, empty until users fill it.
export interface Events {}

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (
  i: infer I,
) => void
  ? I
  : never;

type FullNameOf<N extends string, V> = V extends number
  ? `v${V}.${N}`
  : V extends string
    ? `${V}.${N}`
    : N;

type ParamsOf<D> = D extends { params: infer S } ? InferInput<S> : Params | undefined;
/** The result: what a `returns` schema accepts, else what the handler returns. */
type ResultOf<D> = D extends { returns: infer S }
  ? InferInput<S>
  : D extends { handler: (...args: never[]) => infer R }
    ? Awaited<R>
    : unknown;
type NotPrivate<D> = D extends { visibility: "private" } ? never : D;

/**
 * The parts of a service definition the typed calls read. Matched by shape (not through
 * `ServiceDefinition`), so this module needs nothing from the definition types that use it.
 */
type Defined<N extends string, V, AC, EC> = {
  readonly name: N;
  readonly version?: V;
  readonly actions?: AC;
  readonly events?: EC;
};

/** The full name a definition is called under; `V` is `undefined` for an unversioned service. */
type FullNameOfDefinition<N extends string, V> = [Exclude<V, undefined>] extends [never]
  ? N
  : FullNameOf<N, Exclude<V, undefined>>;

type ActionsOfService<D> =
  D extends Defined<infer N, infer V, infer AC, infer _EC>
    ? {
        [K in keyof AC & string as NotPrivate<AC[K]> extends never
          ? never
          : `${FullNameOfDefinition<N, V>}.${K}`]: {
          params: ParamsOf<AC[K]>;
          result: ResultOf<AC[K]>;
        };
      }
    : never;

type EventsOfService<D> =
  D extends Defined<string, infer _V, infer _AC, infer EC>
    ? { [K in keyof EC & string as K extends `${string}*${string}` ? never : K]: ParamsOf<EC[K]> }
    : never;

/** The events a service declares it emits (`emits`), with the payloads their schemas accept. */
type EmitsOfService<D> = D extends { readonly emits?: infer EM }
  ? { [K in keyof NonNullable<EM> & string]: InferInput<NonNullable<EM>[K]> }
  : never;

/** Every typed action: `"math.add"` → its params and result. */
export type ActionMap = UnionToIntersection<
  { [S in keyof Services]: ActionsOfService<Services[S]> }[keyof Services]
>;

/**
 * Every typed event: its payload, from listed services' handler schemas and `emits`
 * declarations and from the `Events` interface (a payload must satisfy all of them).
 */
export type EventMap = Events &
  UnionToIntersection<
    {
      [S in keyof Services]: EventsOfService<Services[S]> & EmitsOfService<Services[S]>;
    }[keyof Services]
  >;

/** The names of typed actions. */
export type ActionName = keyof ActionMap & string;

/** The full names of listed services (`"math"`, `"v2.users"`). */
type ServicePrefix = {
  [S in keyof Services]: Services[S] extends Defined<infer N, infer V, unknown, unknown>
    ? FullNameOfDefinition<N, V>
    : never;
}[keyof Services];

/**
 * `unknown` for a name of an unlisted service (it stays untyped), `never` for an unknown action
 * of a listed service (a typo the compiler should catch).
 */
export type Unlisted<N extends string> = [ServicePrefix] extends [never]
  ? unknown
  : N extends `${ServicePrefix}.${string}`
    ? never
    : unknown;

/** Params then options, with params optional when the schema accepts an empty object. */
export type ParamsArgs<P, O> = undefined extends P
  ? [params?: P, opts?: O]
  : Record<string, never> extends P
    ? [params?: P, opts?: O]
    : [params: P, opts?: O];

type ActionEntry<N> = N extends keyof ActionMap ? ActionMap[N] : never;
type CallParams<N> = ActionEntry<N> extends { params: infer P } ? P : never;
type CallResult<N> = ActionEntry<N> extends { result: infer R } ? R : never;

/** `broker.call` / `ctx.call`: typed for listed services, untyped (result `unknown`) otherwise. */
export interface CallFn {
  <N extends ActionName>(
    name: N,
    ...args: ParamsArgs<CallParams<N>, CallOptions>
  ): Promise<CallResult<N>>;
  <R = unknown, N extends string = string>(
    name: N & Unlisted<N>,
    params?: unknown,
    opts?: CallOptions,
  ): Promise<R>;
}

type EventPayload<E> = E extends keyof EventMap ? EventMap[E] : never;

/** `broker.emit` / `broker.broadcast`: payload checked for typed events. */
export interface EmitFn {
  <E extends keyof EventMap & string>(
    event: E,
    ...args: ParamsArgs<EventPayload<E>, EmitOptions>
  ): Promise<void>;
  <E extends string>(
    event: E & ([E] extends [keyof EventMap] ? never : unknown),
    payload?: unknown,
    opts?: EmitOptions,
  ): Promise<void>;
}
