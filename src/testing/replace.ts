import type { ServiceBroker } from "../broker/broker.js";
import { getInternals } from "../broker/internals.js";
import { loadService } from "../broker/loader.js";
import { ServiceNotFoundError } from "../errors/index.js";
import type { LocalAction } from "../registry/local.js";
import type { AnyServiceDefinition, Context } from "../service/types.js";

/** A replaced action: what it was called with, and how to put the real one back. */
export interface ActionMock {
  /** The context of every call the stub took, oldest first. */
  readonly calls: Context<unknown>[];
  /** Puts the real handler back. */
  restore(): void;
}

/**
 * Replaces the handler of a local action for one test, keeping its schema and middlewares (so
 * validation still runs). `impl` is a handler, or a value to return.
 *
 * @example
 * ```ts
 * const mock = mockAction(broker, "users.get", { id: 1, name: "Stub" });
 * await broker.call("orders.create", { userId: 1 });
 * expect(mock.calls).toHaveLength(1);
 * mock.restore();
 * ```
 */
export function mockAction(broker: ServiceBroker, name: string, impl: unknown): ActionMock {
  const action = broker.registry.actions.get(name);
  if (action === undefined) throw new ServiceNotFoundError(name);
  const calls: Context<unknown>[] = [];
  const handler =
    typeof impl === "function" ? (impl as (ctx: Context<unknown>) => unknown) : () => impl;
  const stub: LocalAction = {
    ...action,
    raw: (ctx) => {
      calls.push(ctx);
      return handler(ctx);
    },
  };
  const { pipeline } = getInternals(broker);
  pipeline.wrapAction(stub);
  broker.registry.actions.set(name, stub);
  return {
    calls,
    restore: () => {
      if (broker.registry.actions.get(name) === stub) broker.registry.actions.set(name, action);
    },
  };
}

/**
 * Replaces a whole local service by a stub definition with the same name (and version) for one
 * test, as nameko's `replace_dependencies` does for dependencies. Returns a function that puts
 * the real service back.
 */
export function replaceService(broker: ServiceBroker, stub: AnyServiceDefinition): () => void {
  const { service: fake, actions, listeners } = loadService(stub, broker, broker.logger);
  const real = broker.registry.services.get(fake.fullName);
  if (real === undefined) throw new ServiceNotFoundError(fake.fullName);
  const { pipeline } = getInternals(broker);
  const realActions = [...broker.registry.actions.values()].filter((a) => a.service === real);
  const realListeners = broker.registry.listeners.filter((l) => l.service === real);
  for (const action of actions) pipeline.wrapAction(action);
  for (const listener of listeners) pipeline.wrapEvent(listener);
  broker.registry.removeService(real);
  broker.registry.addService(fake, actions, listeners);
  return () => {
    broker.registry.removeService(fake);
    broker.registry.addService(real, realActions, realListeners);
  };
}
