import type { Strategy } from "./strategy.js";

/** Picks an endpoint at random. */
export function randomStrategy(): Strategy {
  return {
    name: "random",
    select: (candidates) => candidates[Math.floor(Math.random() * candidates.length)]!,
  };
}
