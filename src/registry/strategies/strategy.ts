import type { Meta } from "../../service/call-types.js";

/** Something a strategy can pick: an endpoint on a node. */
export interface Candidate {
  readonly nodeID: string;
}

/** The call being routed, for strategies that route by content (shard). */
export interface SelectRequest {
  readonly params: unknown;
  readonly meta: Meta | undefined;
}

/** What strategies may know of nodes. */
export interface NodeStats {
  latency(nodeID: string): number | undefined;
  cpu(nodeID: string): number | undefined;
}

/**
 * Picks one endpoint of several for a call or an event group. `candidates` is never empty and
 * is the same array object until the cluster changes, so strategies may cache per array.
 */
export interface Strategy {
  readonly name: string;
  /** The strategy needs round-trip times: discovery then pings nodes periodically. */
  readonly needsLatency?: boolean;
  select<C extends Candidate>(candidates: readonly C[], request: SelectRequest): C;
}
