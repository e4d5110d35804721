import type { Registry } from "./registry.js";
import type { NodeStats } from "./strategies/index.js";

/** Node measurements for strategies, read from the registry's catalogue of other nodes. */
export function nodeStats(registry: Registry): NodeStats {
  return {
    latency: (nodeID) => registry.remote.nodes.get(nodeID)?.latency,
    cpu: (nodeID) => registry.remote.nodes.get(nodeID)?.cpu,
  };
}
