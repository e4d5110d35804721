import type { Candidate, Strategy } from "./strategy.js";

/** Takes the endpoints of each action in turn. The default. */
export function roundRobin(): Strategy {
  const next = new WeakMap<readonly Candidate[], number>();
  return {
    name: "round-robin",
    select(candidates) {
      const i = next.get(candidates) ?? 0;
      next.set(candidates, i + 1 >= candidates.length ? 0 : i + 1);
      return candidates[i % candidates.length]!;
    },
  };
}
