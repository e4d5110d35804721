import { UnknownHookError } from "../errors/index.js";
import type { ActionHandler, EventHandler, LocalAction, LocalListener } from "../registry/local.js";
import type { CallOptions, EmitOptions } from "../service/call-types.js";

/** `broker.call` as middlewares see it. */
export type CallHandler = (
  name: string,
  params: unknown,
  opts: CallOptions | undefined,
) => Promise<unknown>;

/** `broker.emit` / `broker.broadcast` as middlewares see them. */
export type EmitHandler = (
  event: string,
  payload: unknown,
  opts: EmitOptions | undefined,
) => Promise<void>;

/** The broker as lifecycle hooks see it. */
export interface MiddlewareHost {
  readonly nodeID: string;
}

/**
 * A middleware: a name plus any of the fixed hook points. Wrapping hooks (`localAction`,
 * `localEvent`, `call`, `emit`, `broadcast`) get the next handler and return a new one; they run
 * once when the handler is set up, not on every call. Later middlewares wrap earlier ones.
 *
 * @example
 * ```ts
 * const timing: Middleware = {
 *   name: "timing",
 *   localAction(next, action) {
 *     return async (ctx) => {
 *       const start = performance.now();
 *       try { return await next(ctx); }
 *       finally { console.log(action.name, performance.now() - start); }
 *     };
 *   },
 * };
 * ```
 */
export interface Middleware {
  /** Shown in errors and logs. */
  name?: string;
  /** When the broker is constructed (or the middleware added). */
  created?(broker: MiddlewareHost): void;
  /** Before services start. */
  starting?(broker: MiddlewareHost): void | Promise<void>;
  /** After every service has started. */
  started?(broker: MiddlewareHost): void | Promise<void>;
  /** Before services stop. */
  stopping?(broker: MiddlewareHost): void | Promise<void>;
  /** After every service has stopped. */
  stopped?(broker: MiddlewareHost): void | Promise<void>;
  /** Wraps the handler of an action served by this node. */
  localAction?(next: ActionHandler, action: LocalAction): ActionHandler;
  /** Wraps the handler of an event listener on this node. */
  localEvent?(next: EventHandler, listener: LocalListener): EventHandler;
  /** Wraps every outgoing call (`broker.call` and `ctx.call`). */
  call?(next: CallHandler): CallHandler;
  /** Wraps every emit. */
  emit?(next: EmitHandler): EmitHandler;
  /** Wraps every broadcast. */
  broadcast?(next: EmitHandler): EmitHandler;
}

/** The hook points, in the order the broker documents them. */
export const HOOK_NAMES = [
  "created",
  "starting",
  "started",
  "stopping",
  "stopped",
  "localAction",
  "localEvent",
  "call",
  "emit",
  "broadcast",
] as const satisfies readonly (keyof Middleware)[];

/** Rejects a middleware that names a hook point which does not exist (a typo, usually). */
export function checkMiddleware(middleware: Middleware): void {
  const known: readonly string[] = HOOK_NAMES;
  for (const key of Object.keys(middleware)) {
    if (key === "name") continue;
    if (!known.includes(key))
      throw new UnknownHookError(middleware.name ?? "anonymous", key, HOOK_NAMES);
    const value = (middleware as Record<string, unknown>)[key];
    if (value !== undefined && typeof value !== "function") {
      throw new UnknownHookError(
        middleware.name ?? "anonymous",
        `${key} (not a function)`,
        HOOK_NAMES,
      );
    }
  }
}
