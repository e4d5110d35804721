import type { Meta } from "../../service/call-types.js";
import type { Candidate, SelectRequest, Strategy } from "./strategy.js";

/** Options of the shard strategy. */
export interface ShardOptions {
  /** Where the shard key is read: a params field (`"userId"`) or a meta field (`"#tenant"`). */
  key: string;
  /** Points per node on the hash ring; more spreads keys more evenly. Default 64. */
  virtualNodes?: number;
}

/**
 * Consistent hashing: calls with the same key go to the same node while the set of nodes stays
 * the same, and when a node joins or leaves only its share of the keys moves. Calls without the
 * key fall back to round-robin.
 */
export function shardStrategy(options: ShardOptions): Strategy {
  const vnodes = options.virtualNodes ?? 64;
  const rings = new WeakMap<readonly Candidate[], { hashes: Uint32Array; owners: number[] }>();
  let fallback = 0;
  return {
    name: "shard",
    select<C extends Candidate>(candidates: readonly C[], request: SelectRequest): C {
      const key = readKey(options.key, request);
      if (key === undefined) return candidates[fallback++ % candidates.length]!;
      let ring = rings.get(candidates);
      if (ring === undefined) {
        ring = buildRing(candidates, vnodes);
        rings.set(candidates, ring);
      }
      const h = fnv1a(key);
      let lo = 0;
      let hi = ring.hashes.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ring.hashes[mid]! < h) lo = mid + 1;
        else hi = mid;
      }
      const owner = ring.owners[lo === ring.hashes.length ? 0 : lo]!;
      return candidates[owner]!;
    },
  };
}

function readKey(key: string, request: SelectRequest): string | undefined {
  const source: Meta | undefined = key.startsWith("#")
    ? request.meta
    : (request.params as Record<string, unknown> | undefined);
  const value = source?.[key.startsWith("#") ? key.slice(1) : key];
  return value === undefined || value === null ? undefined : String(value);
}

function buildRing(candidates: readonly Candidate[], vnodes: number) {
  const points: { hash: number; owner: number }[] = [];
  candidates.forEach((c, owner) => {
    for (let v = 0; v < vnodes; v++) points.push({ hash: fnv1a(`${c.nodeID}#${v}`), owner });
  });
  points.sort((a, b) => a.hash - b.hash);
  return {
    hashes: Uint32Array.from(points.map((p) => p.hash)),
    owners: points.map((p) => p.owner),
  };
}

/**
 * 32-bit FNV-1a with murmur3's final mix: FNV alone clusters similar short keys (`a#1`, `a#2`)
 * on the ring; the mix spreads them.
 */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
