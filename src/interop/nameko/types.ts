import type { StandardSchemaV1 } from "@standard-schema/spec";

/**
 * Types a nameko service's methods for `broker.call`, as a service definition types a Flotilla
 * service's actions: list it in `Services` and calls to it are checked. Each method takes the
 * kwargs object (or a tuple of positional args) and returns its result. Types only: nothing is
 * validated at run time.
 *
 * @example
 * ```ts
 * declare module "flotilla" {
 *   interface Services {
 *     greeter: NamekoService<"greeter", { hello(kwargs: { name: string }): string }>;
 *   }
 * }
 * ```
 */
export interface NamekoService<N extends string, M extends NamekoMethods> {
  readonly name: N;
  readonly actions?: {
    [K in keyof M]: {
      params: StandardSchemaV1<Parameters<M[K]>[0]>;
      returns: StandardSchemaV1<Awaited<ReturnType<M[K]>>>;
    };
  };
}

/** A nameko service's methods: each takes its kwargs (or positional args) and returns a result. */
// biome-ignore lint/suspicious/noExplicitAny: method parameters are contravariant; any accepts every signature.
export type NamekoMethods = Record<string, (params: any) => unknown>;
