import type { LocalListener } from "../registry/local.js";
import type { RemoteListener } from "../registry/remote.js";
import type { Candidate, SelectRequest, Strategy } from "../registry/strategies/strategy.js";

/** One member of an event group: a listener here, or a node that has one. */
export type Member =
  | { readonly nodeID: string; readonly local: LocalListener }
  | { readonly nodeID: string; readonly local: undefined };

/** Where one emit goes: the local listeners to run, and per other node the groups to send. */
export interface Targets {
  readonly local: LocalListener[];
  readonly remote: Map<string, string[]>;
}

/** The members of each group for one (local, remote) listener pair, as stable arrays. */
type Plan = ReadonlyMap<string, readonly Member[]>;

/**
 * Picks the handler of each event group: the one place that decides which listener (here or on
 * another node) gets an emitted event. It asks the broker's {@link Strategy}, as calls do, so
 * round-robin, random, latency and shard strategies apply to events too.
 *
 * Strategies keep state per candidate array (round-robin's turn), so the member lists are built
 * once per pair of listener arrays, which the registry keeps until the cluster changes.
 */
export class GroupPicker {
  readonly #plans = [false, true].map(
    () => new WeakMap<readonly LocalListener[], WeakMap<object, Plan>>(),
  );

  constructor(
    private readonly nodeID: string,
    private readonly strategy: Strategy,
    /** Prefer a listener on this node when its group has one. */
    private readonly preferLocal: boolean,
  ) {}

  /**
   * One member per group among `local` and `remote` listeners (only the `groups` given, when
   * given; without durable listeners when `skipDurable`: a stream feeds those), picked by the
   * strategy. `request` is what content-aware strategies route by.
   */
  pick(
    local: readonly LocalListener[],
    remote: readonly RemoteListener[],
    groups: readonly string[] | undefined,
    request: SelectRequest,
    skipDurable = false,
  ): Targets {
    const targets: Targets = { local: [], remote: new Map() };
    for (const [group, members] of this.#plan(local, remote, skipDurable)) {
      if (groups !== undefined && !groups.includes(group)) continue;
      const chosen = this.strategy.select(members as readonly (Member & Candidate)[], request);
      if (chosen.local !== undefined) targets.local.push(chosen.local);
      else {
        const list = targets.remote.get(chosen.nodeID);
        if (list === undefined) targets.remote.set(chosen.nodeID, [group]);
        else list.push(group);
      }
    }
    return targets;
  }

  #plan(
    local: readonly LocalListener[],
    remote: readonly RemoteListener[],
    skipDurable: boolean,
  ): Plan {
    const plans = this.#plans[skipDurable ? 1 : 0]!;
    let byRemote = plans.get(local);
    if (byRemote === undefined) {
      byRemote = new WeakMap();
      plans.set(local, byRemote);
    }
    let plan = byRemote.get(remote);
    if (plan === undefined) {
      plan = skipDurable
        ? this.#build(
            local.filter((l) => l.definition.durable !== true),
            remote.filter((r) => !r.durable),
          )
        : this.#build(local, remote);
      byRemote.set(remote, plan);
    }
    return plan;
  }

  #build(local: readonly LocalListener[], remote: readonly RemoteListener[]): Plan {
    const plan = new Map<string, Member[]>();
    for (const l of local) add(plan, l.group, { nodeID: this.nodeID, local: l });
    for (const r of remote) {
      // With preferLocal a group served here never leaves this node.
      if (this.preferLocal && local.some((l) => l.group === r.group)) continue;
      add(plan, r.group, { nodeID: r.nodeID, local: undefined });
    }
    return plan;
  }
}

function add(plan: Map<string, Member[]>, group: string, member: Member): void {
  const list = plan.get(group);
  if (list === undefined) plan.set(group, [member]);
  else list.push(member);
}

/** The same empty list every time: a stable key for "no remote listeners". */
export const NO_REMOTE: readonly RemoteListener[] = Object.freeze([]);
