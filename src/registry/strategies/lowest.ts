import type { Candidate, NodeStats, Strategy } from "./strategy.js";

/**
 * Picks the endpoint whose node scores lowest (round-trip time, or CPU use); nodes not measured
 * yet are tried in turn so they get measured, and ties are broken at random.
 */
function lowest(
  name: string,
  score: (nodeID: string) => number | undefined,
  needsLatency: boolean,
): Strategy {
  return {
    name,
    needsLatency,
    select<C extends Candidate>(candidates: readonly C[]): C {
      let best: C[] = [];
      let bestScore = Number.POSITIVE_INFINITY;
      for (const c of candidates) {
        const s = score(c.nodeID) ?? Number.POSITIVE_INFINITY;
        if (s < bestScore) {
          best = [c];
          bestScore = s;
        } else if (s === bestScore) {
          best.push(c);
        }
      }
      return best[Math.floor(Math.random() * best.length)]!;
    },
  };
}

/** Prefers the node with the lowest measured round-trip time (PING/PONG). */
export function leastLatency(stats: NodeStats): Strategy {
  return lowest("least-latency", (id) => stats.latency(id), true);
}

/** Prefers the node whose process reported the lowest CPU use in its last heartbeat. */
export function cpuStrategy(stats: NodeStats): Strategy {
  return lowest("cpu", (id) => stats.cpu(id), false);
}
