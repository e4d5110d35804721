import type { LocalAction, LocalListener } from "../registry/local.js";
import { type CallHandler, checkMiddleware, type EmitHandler, type Middleware } from "./hooks.js";

type LifecycleHook = "created" | "starting" | "started" | "stopping" | "stopped";

/**
 * The ordered list of middlewares and the wrapping they do. Wrapping happens when a handler is
 * registered (or the list changes), so a call through an unwrapped path costs nothing extra.
 */
export class Pipeline {
  readonly #list: Middleware[] = [];

  /** Adds a middleware after checking its hook names. */
  add(middleware: Middleware): void {
    checkMiddleware(middleware);
    this.#list.push(middleware);
  }

  get size(): number {
    return this.#list.length;
  }

  /** Sets `action.handler` to the raw handler wrapped by every `localAction` hook. */
  wrapAction(action: LocalAction): void {
    let handler = action.raw;
    for (const mw of this.#list) if (mw.localAction) handler = mw.localAction(handler, action);
    action.handler = handler;
  }

  /** Sets `listener.handler` to the raw handler wrapped by every `localEvent` hook. */
  wrapEvent(listener: LocalListener): void {
    let handler = listener.raw;
    for (const mw of this.#list) if (mw.localEvent) handler = mw.localEvent(handler, listener);
    listener.handler = handler;
  }

  /** The outgoing-call function wrapped by every `call` hook. */
  wrapCall(base: CallHandler): CallHandler {
    let handler = base;
    for (const mw of this.#list) if (mw.call) handler = mw.call(handler);
    return handler;
  }

  /** The emit (or broadcast) function wrapped by every matching hook. */
  wrapEmit(base: EmitHandler, hook: "emit" | "broadcast"): EmitHandler {
    let handler = base;
    for (const mw of this.#list) {
      const wrap = mw[hook];
      if (wrap) handler = wrap.call(mw, handler);
    }
    return handler;
  }

  /** Runs a lifecycle hook of every middleware, in order (reverse order for stop hooks). */
  async run(
    hook: LifecycleHook,
    broker: Parameters<NonNullable<Middleware[LifecycleHook]>>[0],
  ): Promise<void> {
    const list = hook === "stopping" || hook === "stopped" ? [...this.#list].reverse() : this.#list;
    for (const mw of list) await mw[hook]?.(broker);
  }
}
