import type { ServiceBroker } from "../broker/broker.js";
import { DEPRECATIONS_ACTION, type NodeDeprecations } from "../registry/deprecations-service.js";
import { list, number, oneOf, optional, shape, text } from "../util/shape.js";

/** What a node's `$deprecations.usage` must answer before it is added up (a node's word). */
const checkAnswer = shape({
  nodeID: text(256, true),
  deprecated: list(
    100_000,
    shape({
      kind: oneOf(["action", "event"]),
      name: text(1024, true),
      hint: optional(text(64 * 1024)),
      caller: text(1024, true),
      callerNodeID: text(256, true),
      calls: number(0),
    }),
  ),
});

/** One caller of a deprecated member, summed over the nodes that serve the member. */
export interface DeprecatedCaller {
  /** The calling service's full name, or the calling node's ID for calls from outside a service. */
  readonly caller: string;
  /** The node the calls came from. */
  readonly callerNodeID: string;
  /** Calls counted since the serving nodes started. */
  readonly calls: number;
}

/** A deprecated action or event handler of the cluster, and who still uses it. */
export interface DeprecatedMember {
  readonly kind: "action" | "event";
  /** The action (`v1.users.get`) or event (`user.created`) name. */
  readonly name: string;
  /** What to use instead, when the definition says. */
  readonly hint: string | undefined;
  /** Nodes that serve it (as announced). */
  readonly nodeIDs: readonly string[];
  /** Who called it, most calls first; empty when nobody did since the nodes started. */
  readonly callers: readonly DeprecatedCaller[];
}

/** What {@link deprecatedUsage} found. */
export interface DeprecatedReport {
  readonly members: readonly DeprecatedMember[];
  /** Nodes that serve deprecated members but did not answer (their callers are missing above). */
  readonly unreachable: readonly { readonly nodeID: string; readonly error: string }[];
}

/** Options of {@link deprecatedUsage}. */
export interface DeprecatedUsageOptions {
  /** How long to wait for each node's answer, in ms. Default 5 000. */
  timeout?: number;
}

/** One line per member and caller (a member nobody calls has one line with 0 calls). */
export interface DeprecatedRow {
  readonly kind: "action" | "event";
  readonly name: string;
  readonly hint: string | undefined;
  readonly caller: string | undefined;
  readonly callerNodeID: string | undefined;
  readonly calls: number;
}

/**
 * Who still calls the deprecated actions (and emits to the deprecated event handlers) of a
 * running cluster: the deprecated members come from the nodes' announcements, the callers from
 * each serving node's `$deprecations.usage` (the counts `broker.health().deprecated` shows
 * there). `broker` is a started node of the cluster, for instance the CLI's client node once
 * discovery has settled.
 *
 * @example
 * ```ts
 * const report = await deprecatedUsage(broker);
 * for (const m of report.members) console.log(m.name, m.callers.map((c) => c.caller));
 * ```
 */
export async function deprecatedUsage(
  broker: ServiceBroker,
  options: DeprecatedUsageOptions = {},
): Promise<DeprecatedReport> {
  const members = announcedMembers(broker);
  const nodes = new Set(
    broker.registry.remote.actionEndpoints(DEPRECATIONS_ACTION).map((e) => e.nodeID),
  );
  if (broker.registry.actions.has(DEPRECATIONS_ACTION)) nodes.add(broker.nodeID);
  const unreachable: { nodeID: string; error: string }[] = [];
  const answers = await Promise.all(
    [...nodes].sort().map(async (nodeID) => {
      try {
        const answer = await broker.call<NodeDeprecations>(DEPRECATIONS_ACTION, undefined, {
          nodeID,
          timeout: options.timeout ?? 5_000,
        });
        const problem = checkAnswer(answer);
        if (problem !== undefined) throw new TypeError(`unexpected answer: answer${problem}`);
        return answer;
      } catch (err) {
        unreachable.push({ nodeID, error: err instanceof Error ? err.message : String(err) });
        return undefined;
      }
    }),
  );
  for (const answer of answers) {
    if (answer === undefined) continue;
    for (const use of answer.deprecated) {
      const member = memberOf(members, use.kind, use.name, use.hint);
      const key = `${use.caller}\u0000${use.callerNodeID}`;
      const known = member.callers.get(key);
      member.callers.set(key, {
        caller: use.caller,
        callerNodeID: use.callerNodeID,
        calls: (known?.calls ?? 0) + use.calls,
      });
      member.nodeIDs.add(answer.nodeID);
    }
  }
  return {
    members: [...members.values()]
      .map((m) => ({
        kind: m.kind,
        name: m.name,
        hint: m.hint,
        nodeIDs: [...m.nodeIDs].sort(),
        callers: [...m.callers.values()].sort(
          (a, b) => b.calls - a.calls || a.caller.localeCompare(b.caller),
        ),
      }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind)),
    unreachable: unreachable.sort((a, b) => a.nodeID.localeCompare(b.nodeID)),
  };
}

/**
 * The report as flat rows, for a table (`flotilla contracts deprecated`): one per member and
 * caller.
 *
 * @example
 * ```ts
 * out.rows(deprecatedRows(report), { MEMBER: (r) => r.name, CALLER: (r) => r.caller, CALLS: (r) => r.calls });
 * ```
 */
export function deprecatedRows(report: DeprecatedReport): DeprecatedRow[] {
  return report.members.flatMap((m): DeprecatedRow[] => {
    const base = { kind: m.kind, name: m.name, hint: m.hint };
    if (m.callers.length === 0)
      return [{ ...base, caller: undefined, callerNodeID: undefined, calls: 0 }];
    return m.callers.map((c) => ({ ...base, ...c }));
  });
}

interface Gathering {
  kind: "action" | "event";
  name: string;
  hint: string | undefined;
  nodeIDs: Set<string>;
  callers: Map<string, DeprecatedCaller>;
}

/** The deprecated actions and event handlers the registry knows, here and on other nodes. */
function announcedMembers(broker: ServiceBroker): Map<string, Gathering> {
  const members = new Map<string, Gathering>();
  for (const action of broker.registry.catalog()) {
    if (action.deprecated === undefined) continue;
    const m = memberOf(members, "action", action.name, hintOf(action.deprecated));
    for (const nodeID of action.nodeIDs) m.nodeIDs.add(nodeID);
  }
  for (const node of broker.registry.remote.nodes.values()) {
    for (const service of node.info.services) {
      for (const listener of service.events) {
        if (listener.deprecated === undefined) continue;
        memberOf(members, "event", listener.event, hintOf(listener.deprecated)).nodeIDs.add(
          node.id,
        );
      }
    }
  }
  for (const listener of broker.registry.listeners) {
    const deprecated = listener.definition.deprecated;
    if (deprecated === undefined || deprecated === false || deprecated === "") continue;
    memberOf(members, "event", listener.event, hintOf(deprecated)).nodeIDs.add(broker.nodeID);
  }
  return members;
}

function memberOf(
  members: Map<string, Gathering>,
  kind: "action" | "event",
  name: string,
  hint: string | undefined,
): Gathering {
  const key = `${kind}\u0000${name}`;
  let member = members.get(key);
  if (member === undefined) {
    member = { kind, name, hint, nodeIDs: new Set(), callers: new Map() };
    members.set(key, member);
  }
  return member;
}

function hintOf(deprecated: true | string): string | undefined {
  return deprecated === true ? undefined : deprecated;
}
