import { randomUUID } from "node:crypto";
import { BrokerStoppedError, DurablePublishError } from "../errors/index.js";
import { deliveryInit } from "../events/delivery.js";
import { type GroupPicker, NO_REMOTE } from "../events/groups.js";
import type { Logger } from "../observability/logger.js";
import type { LocalListener } from "../registry/local.js";
import type { Registry } from "../registry/registry.js";
import type { ContextHost, EmitOptions, EventEnvelope } from "../service/call-types.js";
import type { Context, ContextInit } from "../service/types.js";
import { CallContext, inheritHeaders } from "./context.js";
import type { IncomingEvent, Remote } from "./remote.js";

/** Told after a local handler finished with an event (error set when it threw). */
export type HandledObserver = (
  ctx: Context<unknown>,
  listener: LocalListener,
  error: unknown,
) => void;

/**
 * Durable events as the emitter routes them; the durable-event engine (`src/events/durable/`)
 * implements it. On `shared` streams an emit with durable targets is published there once and
 * durable listeners get no direct delivery; on node-local streams each delivery to a local
 * durable listener is handed to `enqueue` (which runs it with retries and a dead letter).
 */
export interface DurableRoute {
  readonly shared: boolean;
  /** Publishes to the event's stream (with this message ID, or a new one); resolves once kept. */
  publish(event: EventEnvelope, messageID: string | undefined): Promise<void>;
  /** Resolves once the delivery is settled (handled, or dead-lettered); rejects if not taken. */
  enqueue(listener: LocalListener, init: ContextInit<unknown>): Promise<void>;
}

/**
 * Routes events: `emit` to one handler per balancing group (here or on another node, as the
 * {@link GroupPicker} decides), `broadcast` to all; durable handlers through their streams.
 * Handlers run detached from the emitter: their failures are logged, never thrown back.
 */
export class Emitter {
  /** The other nodes, while the broker is connected (set by the broker). */
  remote: Remote | undefined;
  /** Set by the broker while it has a durable-event engine. */
  durable: DurableRoute | undefined;
  accepting = true;
  /** Event handlers running now (graceful stop waits for them). */
  running = 0;
  readonly #observers = new Set<HandledObserver>();

  constructor(
    private readonly host: ContextHost,
    private readonly registry: Registry,
    private readonly logger: Logger,
    private readonly picker: GroupPicker,
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

  /**
   * Delivers an event that came from another node to this node's listeners of its groups: one
   * per group, or all of them for a broadcast. Durable listeners fed by a shared stream are left
   * out: the stream delivers to them. With `acked` (an explicitly durable emit on node-local
   * streams), the promise settles once every durable delivery it made here has been settled.
   */
  receive(event: IncomingEvent, acked = false): Promise<void> | undefined {
    if (!this.accepting)
      return acked ? Promise.reject(new BrokerStoppedError(this.host.nodeID)) : undefined;
    const groups = event.groups ?? undefined;
    const skipDurable = this.durable?.shared === true;
    const listeners = this.registry.listenersFor(event.event);
    const targets = event.broadcast
      ? listeners.filter(
          (l) =>
            (groups === undefined || groups.includes(l.group)) &&
            !(skipDurable && l.definition.durable === true),
        )
      : this.picker.pick(listeners, NO_REMOTE, groups, request(event), skipDurable).local;
    const settled: Promise<void>[] | undefined = acked ? [] : undefined;
    for (const listener of targets) {
      this.#run(listener, deliveryInit(event, listener.service), settled);
    }
    return settled === undefined ? undefined : settleAll(settled);
  }

  #dispatch(
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
    all: boolean,
  ): Promise<void> {
    if (!this.accepting) return Promise.reject(new BrokerStoppedError(this.host.nodeID));
    const durable = this.durable;
    if (durable?.shared !== true && opts?.durable === true) {
      const away = this.#awayDurableGroups(event);
      if (away !== undefined) return Promise.reject(away);
    }
    if (durable?.shared === true && this.#hasDurableTargets(event, opts)) {
      // Durable handlers are fed from the event's stream: publish once there (awaiting the
      // confirm), and leave them out of the direct deliveries.
      const packet = envelope(event, payload, opts);
      return durable
        .publish(packet, opts?.messageID)
        .then(() => this.#route(event, payload, opts, all, true, packet));
    }
    return this.#route(event, payload, opts, all, false, undefined);
  }

  /**
   * Delivers to this node's chosen listeners at once, then hands the rest to the other nodes.
   * Internal events (`$node.connected`, ...) stay on this node.
   */
  #route(
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
    all: boolean,
    skipDurable: boolean,
    built: EventEnvelope | undefined,
  ): Promise<void> {
    const remote = event.startsWith("$") ? undefined : this.remote;
    const groups = opts?.groups;
    const local = this.registry.listenersFor(event);
    const others = remote === undefined ? NO_REMOTE : this.registry.remote.listenersFor(event);
    const wanted = (group: string, durable: boolean) =>
      (groups === undefined || groups.includes(group)) && !(skipDurable && durable);
    if (remote !== undefined && !all && remote.balancing === "broker") {
      // The message broker picks the member: one message per group, to the group's queue.
      const queues = new Set<string>();
      for (const l of local)
        if (wanted(l.group, l.definition.durable === true)) queues.add(l.group);
      for (const l of others) if (wanted(l.group, l.durable)) queues.add(l.group);
      return queues.size === 0
        ? Promise.resolve()
        : remote.sendToGroups(built ?? envelope(event, payload, opts), queues);
    }
    // Node-local streams keep an event only in the memory of the node handling it: an explicitly
    // durable emit (the outbox's) is done once the handlers settled it, here and on other nodes.
    const acked = opts?.durable === true && this.durable?.shared === false;
    const settled: Promise<void>[] | undefined = acked ? [] : undefined;
    if (all) {
      this.deliverLocal(
        local.filter((l) => wanted(l.group, l.definition.durable === true)),
        event,
        payload,
        opts,
        settled,
      );
      const nodes = new Set<string>();
      for (const l of others) if (wanted(l.group, l.durable)) nodes.add(l.nodeID);
      if (remote !== undefined && nodes.size > 0) {
        const packet = built ?? envelope(event, payload, opts);
        const sends = [...nodes].map((n) =>
          remote.sendEvent(n, packet, groups ?? null, true, acked),
        );
        return settleAll(settled === undefined ? sends : [...settled, ...sends]);
      }
      return settled === undefined ? Promise.resolve() : settleAll(settled);
    }
    const targets = this.picker.pick(
      local,
      others,
      groups,
      { params: payload, meta: opts?.meta },
      skipDurable,
    );
    this.deliverLocal(targets.local, event, payload, opts, settled);
    if (remote === undefined || targets.remote.size === 0)
      return settled === undefined ? Promise.resolve() : settleAll(settled);
    const packet = built ?? envelope(event, payload, opts);
    const sends = [...targets.remote].map(([nodeID, nodeGroups]) =>
      remote.sendEvent(nodeID, packet, nodeGroups, false, acked),
    );
    return settleAll(settled === undefined ? sends : [...settled, ...sends]);
  }

  /**
   * Without shared streams (`tcp://`, no transporter) a durable event waits only in the memory of
   * the node that handles it: when every instance of a durable group that was seen before is
   * away now, an explicitly durable emit (`durable: true`, which the outbox uses) is refused,
   * retryably, instead of going nowhere. The outbox keeps the row and publishes it once an
   * instance is back. Events no durable handler ever listened to are not refused.
   */
  #awayDurableGroups(event: string): DurablePublishError | undefined {
    if (event.startsWith("$")) return undefined;
    const here = new Set<string>();
    for (const l of this.registry.listenersFor(event))
      if (l.definition.durable === true) here.add(l.group);
    const away = this.registry.remote.missingDurableGroups(event, here);
    if (away.length === 0) return undefined;
    return new DurablePublishError(
      `Durable event '${event}' not taken: no instance of ${away.map((g) => `'${g}'`).join(", ")} is reachable, and this transporter keeps no streams`,
      { data: { event, groups: away } },
    );
  }

  /** Whether an emit goes to a durable stream: asked to, or a durable handler (here or elsewhere) listens. */
  #hasDurableTargets(event: string, opts: EmitOptions | undefined): boolean {
    if (event.startsWith("$")) return false;
    if (opts?.durable === true) return true;
    const groups = opts?.groups;
    const wanted = (group: string) => groups === undefined || groups.includes(group);
    return (
      this.registry
        .listenersFor(event)
        .some((l) => l.definition.durable === true && wanted(l.group)) ||
      this.registry.remote.listenersFor(event).some((l) => l.durable && wanted(l.group))
    );
  }

  /**
   * Runs the given local listeners for one event; with `settled`, the durable deliveries' ends
   * are collected there.
   */
  deliverLocal(
    targets: readonly LocalListener[],
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
    settled?: Promise<void>[],
  ): void {
    for (const listener of targets) {
      this.#run(
        listener,
        {
          name: event,
          params: payload,
          meta: opts?.meta,
          headers: opts?.headers,
          messageID: opts?.messageID,
          parent: opts?.parentCtx,
          service: listener.service,
        },
        settled,
      );
    }
  }

  /**
   * Runs one delivery. On node-local streams a durable handler runs through them (retries, a
   * dead letter), and the delivery's end goes to `settled` when asked for.
   */
  #run(listener: LocalListener, init: ContextInit<unknown>, settled?: Promise<void>[]): void {
    if (listener.definition.durable === true && this.durable?.shared === false) {
      const done = this.durable.enqueue(listener, init);
      if (settled === undefined) done.catch(() => undefined);
      else settled.push(done);
      return;
    }
    void this.run(listener, init);
  }

  /**
   * Runs one listener with a context built from `init`; resolves with the error it threw (or
   * `undefined`), after logging it and telling observers. Never rejects.
   */
  run(listener: LocalListener, init: ContextInit<unknown>): Promise<unknown> {
    const ctx = new CallContext(this.host, init);
    ctx.kind = "event";
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

/** What content-aware strategies route an event by. */
function request(event: IncomingEvent) {
  return { params: event.payload, meta: event.meta };
}

/** The packet side of an event: its chain (meta, headers, IDs, level) carried on from the parent. */
export function envelope(
  event: string,
  payload: unknown,
  opts: EmitOptions | undefined,
): EventEnvelope {
  const parent = opts?.parentCtx;
  const meta = opts?.meta;
  return {
    event,
    payload,
    meta:
      parent === undefined
        ? (meta ?? {})
        : meta === undefined
          ? parent.meta
          : { ...parent.meta, ...meta },
    requestID: parent?.requestID ?? randomUUID(),
    parentID: parent?.id,
    level: (parent?.level ?? 0) + 1,
    caller: parent?.service?.fullName,
    headers: inheritHeaders(parent, opts?.headers),
    messageID: opts?.messageID,
  };
}

async function settleAll(sends: Promise<void>[]): Promise<void> {
  await Promise.all(sends);
}
