import { randomUUID } from "node:crypto";
import type { Context } from "../broker/context.js";
import type { CallOptions, EmitOptions, Meta } from "../broker/options.js";
import {
  MaxCallLevelError,
  RequestTimeoutError,
  ServiceNotAvailableError,
} from "../errors/index.js";
import type { LocalListener } from "../registry/local.js";
import type { RemoteAction, RemoteListener } from "../registry/remote.js";
import type { Strategy } from "../registry/strategies/index.js";
import { send, type TransitCore } from "./core.js";
import { PacketType } from "./packets.js";

/**
 * Sends calls and events to other nodes: picks the node (strategy), builds the packet with the
 * chain's meta, IDs, level and remaining budget, and registers the call as pending.
 */
export class Outgoing {
  #seq = 0;
  readonly #turns = new Map<string, number>();
  readonly #combined = new WeakMap<
    readonly RemoteAction[],
    readonly (RemoteAction | LocalCandidate)[]
  >();
  readonly #idPrefix = randomUUID().slice(0, 8);

  constructor(
    private readonly core: TransitCore,
    private readonly strategy: Strategy,
    private readonly maxCallLevel: number,
    private readonly requestTimeout: number,
  ) {}

  /** Sends a call, or returns `undefined` when no other node offers the action. */
  call(
    name: string,
    params: unknown,
    opts: CallOptions | undefined,
    withLocal: boolean,
  ): Promise<unknown> | undefined {
    let endpoints: readonly (RemoteAction | LocalCandidate)[] =
      this.core.registry.remote.actionEndpoints(name);
    if (opts?.nodeID !== undefined) endpoints = endpoints.filter((e) => e.nodeID === opts.nodeID);
    if (endpoints.length === 0) return undefined;
    if (withLocal) endpoints = this.#withLocal(endpoints as readonly RemoteAction[]);
    const parent = opts?.parentCtx;
    const level = (parent?.level ?? 0) + 1;
    if (level > this.maxCallLevel) throw new MaxCallLevelError(level);
    const meta = mergeMeta(parent, opts?.meta);
    const target = this.strategy.select(endpoints, { params, meta });
    if (target.local) return undefined;
    const timeout = this.#timeout(target, opts);
    if (timeout < 0)
      throw new RequestTimeoutError(name, 0, { data: { action: name, reason: "deadline passed" } });
    const id = `${this.#idPrefix}-${(this.#seq++).toString(36)}`;
    const own = timeout;
    const pending = this.core.pending.add(id, target.nodeID, name, own);
    send(this.core, this.core.topics.node("REQ", target.nodeID), PacketType.REQUEST, {
      sender: this.core.nodeID,
      id,
      action: name,
      params,
      meta,
      requestID: opts?.requestID ?? parent?.requestID ?? randomUUID(),
      parentID: parent?.id,
      level,
      caller: parent?.service?.fullName,
      timeout: own,
      headers: opts?.headers ?? undefined,
    }).catch((err: unknown) => {
      this.core.pending.reject(
        id,
        new ServiceNotAvailableError(name, {
          cause: err,
          nodeID: target.nodeID,
          data: { action: name, reason: "send failed" },
        }),
      );
    });
    return pending;
  }

  /**
   * Emits an event across the cluster: for `emit`, one handler per group among this node's and
   * the other nodes' listeners (a local member wins when `preferLocal`; otherwise members take
   * turns); for `broadcast`, every node that listens. Resolves once every packet is handed off.
   */
  async emit(
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
    broadcast: boolean,
    local: readonly LocalListener[],
    deliverLocal: (targets: LocalListener[]) => void,
  ): Promise<void> {
    const groups = opts?.groups;
    const remote = this.core.registry.remote
      .listenersFor(event)
      .filter((l) => groups === undefined || groups.includes(l.group));
    const perNode = new Map<string, string[]>();
    if (broadcast) {
      deliverLocal([...local]);
      for (const l of remote) perNode.set(l.nodeID, []);
    } else {
      const members = new Map<string, (LocalListener | RemoteListener)[]>();
      for (const l of local) push(members, l.group, l);
      const preferLocal = this.core.settings.preferLocal;
      for (const l of remote)
        if (!(preferLocal && local.some((m) => m.group === l.group))) push(members, l.group, l);
      const chosenLocal: LocalListener[] = [];
      for (const [group, list] of members) {
        const pool = preferLocal && list.some(isLocal) ? list.filter(isLocal) : list;
        const chosen = this.#turn(`${event}\0${group}`, pool);
        if (isLocal(chosen)) chosenLocal.push(chosen);
        else push(perNode, chosen.nodeID, group);
      }
      deliverLocal(chosenLocal);
    }
    if (perNode.size === 0) return;
    const parent = opts?.parentCtx;
    const meta = mergeMeta(parent, opts?.meta);
    const requestID = parent?.requestID ?? randomUUID();
    await Promise.all(
      [...perNode].map(([nodeID, nodeGroups]) =>
        send(this.core, this.core.topics.node("EVENT", nodeID), PacketType.EVENT, {
          sender: this.core.nodeID,
          event,
          payload,
          meta,
          requestID,
          parentID: parent?.id,
          level: (parent?.level ?? 0) + 1,
          caller: parent?.service?.fullName,
          groups: broadcast ? (groups ? [...groups] : null) : nodeGroups,
          broadcast,
        }),
      ),
    );
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
  #timeout(target: RemoteAction, opts: CallOptions | undefined): number {
    const own = opts?.timeout ?? target.descriptor.timeout ?? this.requestTimeout;
    const deadline = opts?.parentCtx?.deadline ?? 0;
    if (deadline === 0) return own;
    const left = deadline - Date.now();
    if (left <= 0) return -1;
    return own === 0 ? left : Math.min(own, left);
  }

  /** Round-robin over the members of one event group. */
  #turn<T>(key: string, list: readonly T[]): T {
    const i = this.#turns.get(key) ?? 0;
    this.#turns.set(key, i + 1);
    return list[i % list.length]!;
  }
}

/** This node as a candidate among remote endpoints. */
interface LocalCandidate {
  readonly nodeID: string;
  readonly local: true;
}

function isLocal(l: LocalListener | RemoteListener): l is LocalListener {
  return "handler" in l;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function mergeMeta(parent: Context | undefined, meta: Meta | undefined): Meta {
  if (parent === undefined) return meta ?? {};
  return meta === undefined ? parent.meta : { ...parent.meta, ...meta };
}
