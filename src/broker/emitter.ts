import { BrokerStoppedError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { LocalListener } from "../registry/local.js";
import type { Registry } from "../registry/registry.js";
import { Context, type ContextHost, type ContextInit } from "./context.js";
import type { EmitOptions } from "./options.js";

/** Told after a local handler finished with an event (error set when it threw). */
export type HandledObserver = (
  ctx: Context<unknown>,
  listener: LocalListener,
  error: unknown,
) => void;

/**
 * Delivers events to the remote side. Receives the groups this node does not serve itself (for
 * `emit`), or `undefined` for a broadcast; returns the groups it delivered to.
 */
export type RemoteEmit = (
  event: string,
  payload: unknown,
  opts: EmitOptions | undefined,
  broadcast: boolean,
) => Promise<void>;

/**
 * Delivers events to local handlers: `emit` to one handler per balancing group, `broadcast` to
 * all. Handlers run detached from the emitter: their failures are logged, never thrown back.
 */
export class Emitter {
  remote: RemoteEmit | undefined;
  accepting = true;
  /** Event handlers running now (graceful stop waits for them). */
  running = 0;
  readonly #observers = new Set<HandledObserver>();
  readonly #roundRobin = new Map<string, number>();

  constructor(
    private readonly host: ContextHost,
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  emit(event: string, payload: unknown, opts: EmitOptions | undefined): Promise<void> {
    return this.#dispatch(event, payload, opts, false);
  }

  broadcast(event: string, payload: unknown, opts: EmitOptions | undefined): Promise<void> {
    return this.#dispatch(event, payload, opts, true);
  }

  /** Runs `observer` after every local delivery until the returned function is called. */
  observe(observer: HandledObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Runs one delivery (one that arrived from another node, for instance) with a ready context init. */
  deliverInit(listener: LocalListener, init: Omit<ContextInit<unknown>, "service">): void {
    this.#run(listener, { ...init, service: listener.service });
  }

  /** Local listeners that should get `event`: all of them, or one per group. */
  localTargets(
    event: string,
    groups: readonly string[] | undefined,
    all: boolean,
  ): LocalListener[] {
    const listeners = this.registry.listenersFor(event);
    const wanted =
      groups === undefined ? listeners : listeners.filter((l) => groups.includes(l.group));
    if (all) return wanted;
    const byGroup = new Map<string, LocalListener[]>();
    for (const l of wanted) {
      const list = byGroup.get(l.group);
      if (list) list.push(l);
      else byGroup.set(l.group, [l]);
    }
    const picked: LocalListener[] = [];
    for (const [group, list] of byGroup) picked.push(this.#pick(`${event}\0${group}`, list));
    return picked;
  }

  #dispatch(
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
    all: boolean,
  ): Promise<void> {
    if (!this.accepting) return Promise.reject(new BrokerStoppedError(this.host.nodeID));
    if (this.remote !== undefined && !event.startsWith("$")) {
      return this.remote(event, payload, opts, all);
    }
    this.deliverLocal(this.localTargets(event, opts?.groups, all), event, payload, opts);
    return Promise.resolve();
  }

  /** Runs the given local listeners for one event. */
  deliverLocal(
    targets: readonly LocalListener[],
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
  ): void {
    for (const listener of targets) {
      this.#run(listener, {
        name: event,
        params: payload,
        meta: opts?.meta,
        parent: opts?.parentCtx,
        service: listener.service,
      });
    }
  }

  #pick(key: string, list: LocalListener[]): LocalListener {
    if (list.length === 1) return list[0]!;
    const next = ((this.#roundRobin.get(key) ?? -1) + 1) % list.length;
    this.#roundRobin.set(key, next);
    return list[next]!;
  }

  #run(listener: LocalListener, init: ContextInit<unknown>): void {
    void this.run(listener, init);
  }

  /**
   * Runs one listener with a context built from `init`; resolves with the error it threw (or
   * `undefined`), after logging it and telling observers. Never rejects.
   */
  run(listener: LocalListener, init: ContextInit<unknown>): Promise<unknown> {
    const ctx = new Context(this.host, init);
    let result: unknown;
    try {
      result = listener.handler(ctx);
    } catch (err) {
      this.#failed(ctx, listener, err);
      return Promise.resolve(err);
    }
    if (!(result instanceof Promise)) {
      this.#handled(ctx, listener, undefined);
      return Promise.resolve(undefined);
    }
    this.running++;
    return result.then(
      () => {
        this.running--;
        this.#handled(ctx, listener, undefined);
        return undefined;
      },
      (err: unknown) => {
        this.running--;
        this.#failed(ctx, listener, err);
        return err;
      },
    );
  }

  #failed(ctx: Context<unknown>, listener: LocalListener, err: unknown): void {
    this.logger.error(
      { err, event: ctx.name, service: listener.service.fullName, requestID: ctx.requestID },
      `Handler of event '${ctx.name}' in '${listener.service.fullName}' failed`,
    );
    this.#handled(ctx, listener, err);
  }

  #handled(ctx: Context<unknown>, listener: LocalListener, err: unknown): void {
    for (const observer of this.#observers) {
      try {
        observer(ctx, listener, err);
      } catch (observerError) {
        this.logger.error({ err: observerError }, "An event observer failed");
      }
    }
  }
}
