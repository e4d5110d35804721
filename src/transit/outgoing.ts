import { randomUUID } from "node:crypto";
import { CallContext, cancelHookOf, inheritHeaders } from "../broker/context.js";
import {
  CallAbortedError,
  CircuitOpenError,
  DurablePublishError,
  FlotillaError,
  MaxCallLevelError,
  PacketTooLargeError,
  RequestTimeoutError,
  ServiceNotAvailableError,
  StreamNotRoutableError,
} from "../errors/index.js";
import type { BreakerBoard } from "../middleware/resilience/breakers.js";
import type { RemoteAction } from "../registry/remote.js";
import type { Strategy } from "../registry/strategies/index.js";
import type { CallOptions, EventEnvelope, Meta, ParentContext } from "../service/call-types.js";
import { send, type TransitCore } from "./core.js";
import { PacketType } from "./packets.js";
import { isByteStream, type Streams } from "./streams/index.js";

/**
 * How long an acknowledged event delivery (an explicitly durable emit on `tcp://`) waits for the
 * receiver's handlers to settle it. A lost node fails it at once; this bounds a silent one.
 */
export const EVENT_ACK_TIMEOUT = 30_000;

/**
 * Sends calls and events to other nodes: picks the node (strategy), builds the packet with the
 * chain's meta, IDs, level and remaining budget, and registers the call as pending.
 */
export class Outgoing {
  #seq = 0;
  readonly #subsets = new WeakMap<readonly RemoteAction[], Map<string, readonly RemoteAction[]>>();
  readonly #combined = new WeakMap<
    readonly RemoteAction[],
    readonly (RemoteAction | LocalCandidate)[]
  >();
  readonly #idPrefix = randomUUID().slice(0, 8);
  /** Feeds call outcomes to the circuit breakers (local failures say nothing of an endpoint). */
  readonly #observe = (nodeID: string, action: string, error: unknown): void => {
    if (this.breakers !== undefined && !isLocalFailure(error))
      this.breakers.record(nodeID, action, error);
  };

  constructor(
    private readonly core: TransitCore,
    private readonly streams: Streams,
    private readonly strategy: Strategy,
    private readonly maxCallLevel: number,
    private readonly requestTimeout: number,
    private readonly breakers: BreakerBoard | undefined,
  ) {}

  /**
   * Sends a call, or returns `undefined` when no other node offers the action (or, with
   * `withLocal`, when the strategy picked this node).
   */
  call(
    name: string,
    params: unknown,
    opts: CallOptions | undefined,
    withLocal: boolean,
  ): Promise<unknown> | undefined {
    const parent = opts?.parentCtx;
    const meta = mergeMeta(parent, opts?.meta);
    const route = this.#route(name, params, meta, opts, withLocal);
    if (route === undefined) return undefined;
    const level = (parent?.level ?? 0) + 1;
    if (level > this.maxCallLevel) throw new MaxCallLevelError(level);
    const timeout = this.#timeout(route.actionTimeout, opts);
    if (timeout < 0) {
      throw new RequestTimeoutError(name, 0, { data: { action: name, reason: "deadline passed" } });
    }
    const signal = opts?.signal;
    if (signal?.aborted) throw CallAbortedError.of(name, signal);
    // A stream as params follows the request to the node that takes it: one must be known.
    const stream = isByteStream(params) ? params : undefined;
    if (stream !== undefined && route.nodeID === "") throw new StreamNotRoutableError(name);
    const id = `${this.#idPrefix}-${(this.#seq++).toString(36)}`;
    const pending = this.core.pending.add(
      id,
      route.nodeID,
      name,
      timeout,
      route.nodeID === "" ? undefined : this.#observe,
    );
    const packet = {
      sender: this.core.nodeID,
      id,
      action: name,
      params: stream === undefined ? params : null,
      meta,
      // A call from outside any chain starts one: its packet ID is unique and costs nothing.
      requestID: opts?.requestID ?? parent?.requestID ?? id,
      parentID: parent?.id,
      level,
      caller: parent?.service?.fullName,
      timeout,
      headers: inheritHeaders(parent, opts?.headers),
      sentAt: route.queued ? Date.now() : undefined,
      stream: stream === undefined ? undefined : true,
    };
    // A request waiting in a durable queue should outlive a broker restart, until its deadline.
    const durable = this.core.transporter.capabilities.persistentQueues === true;
    const publish = route.queued
      ? { ...(timeout > 0 ? { ttl: timeout } : {}), persistent: durable }
      : undefined;
    let sending: Promise<void>;
    try {
      sending = send(this.core, route.topic, PacketType.REQUEST, packet, publish);
    } catch (err) {
      // The params cannot be encoded (too deep, a cycle, a BigInt): no node could take them, and
      // the call must not stay pending until its timeout.
      this.core.pending.reject(id, err);
      return pending;
    }
    sending.catch((err: unknown) => {
      // Too large stays too large on any node: the caller hears that, not "try elsewhere".
      const error =
        err instanceof PacketTooLargeError
          ? err
          : new ServiceNotAvailableError(name, {
              cause: err,
              nodeID: route.nodeID || undefined,
              data: { action: name, reason: "send failed" },
            });
      this.core.pending.reject(id, error);
    });
    this.#cancellable(opts, parent, pending, id, name, route.nodeID);
    if (stream !== undefined) {
      this.streams.send(stream, route.nodeID, id, route.topic);
      // The call failed (timeout, node lost): the callee reads no more of it.
      pending.catch(() => this.streams.stop(route.nodeID, id));
    }
    return pending;
  }

  /**
   * Makes request `id` cancellable: by the caller's `signal`, by its cancel hook (the gateway's),
   * and by the cancellation of the context it is made from. Cancelled, the caller hears
   * `CALL_ABORTED` at once and the node working on it gets a CANCEL, so the handler's
   * `ctx.signal` aborts there too (a request in a broker-balanced queue has no known node: its
   * own deadline ends it).
   */
  #cancellable(
    opts: CallOptions | undefined,
    parent: ParentContext | undefined,
    pending: Promise<unknown>,
    id: string,
    action: string,
    nodeID: string,
  ): void {
    const signal = opts?.signal;
    const hook = cancelHookOf(opts);
    const fromContext = parent instanceof CallContext;
    if (signal === undefined && hook === undefined && !fromContext) return;
    const cancel = (reason: unknown) => {
      const error =
        reason instanceof CallAbortedError
          ? reason
          : new CallAbortedError(action, reason instanceof Error ? reason.message : "cancelled", {
              cause: reason,
            });
      if (!this.core.pending.reject(id, error) || nodeID === "") return;
      const topic = this.core.topics.node("REQ", nodeID);
      send(this.core, topic, PacketType.CANCEL, { sender: this.core.nodeID, id }).catch(
        (err: unknown) => this.core.logger.debug({ err, action, nodeID }, "Could not send CANCEL"),
      );
    };
    if (hook !== undefined) hook.cancel = cancel;
    const offs: (() => void)[] = [];
    if (fromContext) offs.push(CallContext.follow(parent, cancel));
    if (signal !== undefined) {
      const onAbort = () => cancel(CallAbortedError.of(action, signal));
      signal.addEventListener("abort", onAbort, { once: true });
      offs.push(() => signal.removeEventListener("abort", onAbort));
    }
    const off = () => {
      for (const fn of offs) fn();
    };
    pending.then(off, off);
  }

  /**
   * Where a call goes: the REQ topic of the node the strategy picks (registry-routed), or the
   * service's queue (broker-balanced: the broker picks; a durable queue keeps the request while
   * no instance is up). `undefined` when nobody offers the action or this node was picked.
   */
  #route(
    name: string,
    params: unknown,
    meta: Meta,
    opts: CallOptions | undefined,
    withLocal: boolean,
  ): Route | undefined {
    const remote = this.core.registry.remote.actionEndpoints(name);
    if (this.core.settings.balancing === "broker" && opts?.nodeID === undefined) {
      const service =
        remote[0]?.service ??
        (this.core.transporter.capabilities.persistentQueues === true
          ? serviceOf(name)
          : undefined);
      if (service === undefined || service === "") return undefined;
      const topic = this.core.topics.service(service);
      return { topic, nodeID: "", actionTimeout: remote[0]?.descriptor.timeout, queued: true };
    }
    let endpoints: readonly (RemoteAction | LocalCandidate)[] = remote;
    if (opts?.nodeID !== undefined) endpoints = endpoints.filter((e) => e.nodeID === opts.nodeID);
    if (endpoints.length === 0) return undefined;
    endpoints = this.#healthy(name, endpoints as readonly RemoteAction[], opts?.avoidNodeIDs);
    if (withLocal) endpoints = this.#withLocal(endpoints as readonly RemoteAction[]);
    const target = this.strategy.select(endpoints, { params, meta });
    if (target.local) return undefined;
    if (this.breakers?.troubled) this.breakers.claim(target.nodeID, name);
    const topic = this.core.topics.node("REQ", target.nodeID);
    return {
      topic,
      nodeID: target.nodeID,
      actionTimeout: target.descriptor.timeout,
      queued: false,
    };
  }

  /** Sends one event to a node, for the listeners of `groups` there (all of them: `null`). */
  sendEvent(
    nodeID: string,
    event: EventEnvelope,
    groups: readonly string[] | null,
    broadcast: boolean,
    acked: boolean,
  ): Promise<void> {
    const topic = this.core.topics.node("EVENT", nodeID);
    const body = {
      sender: this.core.nodeID,
      ...event,
      groups: groups === null ? null : [...groups],
      broadcast,
    };
    if (!acked) return send(this.core, topic, PacketType.EVENT, body);
    // The answer comes as a RESPONSE with the ack's ID; a lost node fails it like a call.
    const ack = `${this.#idPrefix}:${(this.#seq++).toString(36)}`;
    const answered = this.core.pending.add(ack, nodeID, event.event, EVENT_ACK_TIMEOUT);
    send(this.core, topic, PacketType.EVENT, { ...body, ack }).catch((err: unknown) =>
      this.core.pending.reject(ack, err),
    );
    return answered.then(
      () => undefined,
      (cause: unknown) => {
        const reason = cause instanceof Error ? cause.message : String(cause);
        const retryable = !(cause instanceof FlotillaError) || cause.retryable;
        throw new DurablePublishError(
          `Durable event '${event.event}' was not settled by node '${nodeID}': ${reason}`,
          { retryable, cause, data: { event: event.event, nodeID, messageID: event.messageID } },
        );
      },
    );
  }

  /** Broker-balanced emit: one message per group, to the group's queue. */
  async sendToGroups(event: EventEnvelope, groups: Iterable<string>): Promise<void> {
    const persistent = this.core.transporter.capabilities.persistentQueues === true;
    const sends: Promise<void>[] = [];
    for (const group of groups) {
      const body = { sender: this.core.nodeID, ...event, groups: [group], broadcast: false };
      sends.push(
        send(this.core, this.core.topics.group(group), PacketType.EVENT, body, { persistent }),
      );
    }
    await Promise.all(sends);
  }

  /**
   * The endpoints a call may go to: without those whose circuit is open, and without nodes the
   * call should avoid (a retry), unless that would leave none. Allocates only when filtering.
   */
  #healthy(
    name: string,
    endpoints: readonly RemoteAction[],
    avoid: readonly string[] | undefined,
  ): readonly RemoteAction[] {
    // This runs on every remote call: while all is healthy it costs two checks.
    if (!this.breakers?.troubled && (avoid === undefined || avoid.length === 0)) return endpoints;
    let excluded: string[] | undefined;
    const exclude = (nodeID: string) => {
      if (excluded === undefined) excluded = [nodeID];
      else excluded.push(nodeID);
    };
    if (this.breakers?.troubled) {
      for (const e of endpoints) if (!this.breakers.permits(e.nodeID, name)) exclude(e.nodeID);
      if (excluded?.length === endpoints.length) throw new CircuitOpenError(name);
    }
    if (avoid !== undefined && avoid.length > 0) {
      const more = endpoints.filter(
        (e) => avoid.includes(e.nodeID) && !excluded?.includes(e.nodeID),
      );
      // Avoid nodes only while others remain.
      if (more.length < endpoints.length - (excluded?.length ?? 0))
        for (const e of more) exclude(e.nodeID);
    }
    return excluded === undefined ? endpoints : this.#subset(endpoints, excluded);
  }

  /**
   * The endpoints without the excluded nodes, as the same array object for the same exclusion,
   * so strategies that keep state per list (round-robin) keep working while some are excluded.
   */
  #subset(endpoints: readonly RemoteAction[], excluded: string[]): readonly RemoteAction[] {
    const key = excluded.sort().join("\0");
    let byKey = this.#subsets.get(endpoints);
    if (byKey === undefined) {
      byKey = new Map();
      this.#subsets.set(endpoints, byKey);
    }
    let list = byKey.get(key);
    if (list === undefined) {
      list = endpoints.filter((e) => !excluded.includes(e.nodeID));
      if (byKey.size > 64) byKey.clear();
      byKey.set(key, list);
    }
    return list;
  }

  /** The remote endpoints plus this node, as one stable list per remote list (strategies cache by list). */
  #withLocal(remote: readonly RemoteAction[]): readonly (RemoteAction | LocalCandidate)[] {
    let list = this.#combined.get(remote);
    if (list === undefined) {
      list = [{ nodeID: this.core.nodeID, local: true }, ...remote];
      this.#combined.set(remote, list);
    }
    return list;
  }

  /**
   * The budget of a remote call: the call's own timeout, else the action's, else the broker's,
   * capped by what the parent has left. Negative when the parent's deadline has passed.
   */
  #timeout(actionTimeout: number | undefined, opts: CallOptions | undefined): number {
    const own = opts?.timeout ?? actionTimeout ?? this.requestTimeout;
    const deadline = opts?.parentCtx?.deadline ?? 0;
    if (deadline === 0) return own;
    const left = deadline - Date.now();
    if (left <= 0) return -1;
    return own === 0 ? left : Math.min(own, left);
  }
}

function isLocalFailure(error: unknown): boolean {
  if (error instanceof CallAbortedError) return true;
  const reason = (error as { data?: { reason?: unknown } } | undefined)?.data?.reason;
  return reason === "send failed" || reason === "connection lost";
}

/** Where one call is sent. */
interface Route {
  topic: string;
  /** The node it goes to; empty when the broker picks. */
  nodeID: string;
  actionTimeout: number | undefined;
  /** Through a queue, where it may wait: it carries `sentAt` and expires with its budget. */
  queued: boolean;
}

/** The service part of an action name: `v2.users.get` → `v2.users`. */
function serviceOf(action: string): string {
  return action.slice(0, Math.max(0, action.lastIndexOf(".")));
}

/** This node as a candidate among remote endpoints. */
interface LocalCandidate {
  readonly nodeID: string;
  readonly local: true;
}

function mergeMeta(parent: ParentContext | undefined, meta: Meta | undefined): Meta {
  if (parent === undefined) return meta ?? {};
  return meta === undefined ? parent.meta : { ...parent.meta, ...meta };
}
