import { ConfigurationError } from "../../errors/index.js";
import { cpuStrategy, leastLatency } from "./lowest.js";
import { randomStrategy } from "./random.js";
import { roundRobin } from "./round-robin.js";
import { type ShardOptions, shardStrategy } from "./shard.js";
import type { NodeStats, Strategy } from "./strategy.js";

export type { ShardOptions } from "./shard.js";
export type { Candidate, NodeStats, SelectRequest, Strategy } from "./strategy.js";

/** How a broker picks one of several nodes: a name, shard options, or your own strategy. */
export type StrategyOption =
  | "round-robin"
  | "random"
  | "least-latency"
  | "cpu"
  | ({ name: "shard" } & ShardOptions)
  | Strategy;

/** Resolves a strategy option (default round-robin). */
export function resolveStrategy(option: StrategyOption | undefined, stats: NodeStats): Strategy {
  if (option === undefined || option === "round-robin") return roundRobin();
  if (option === "random") return randomStrategy();
  if (option === "least-latency") return leastLatency(stats);
  if (option === "cpu") return cpuStrategy(stats);
  if (typeof option === "object" && "select" in option) return option;
  if (typeof option === "object" && option.name === "shard") return shardStrategy(option);
  throw new ConfigurationError(`Unknown strategy ${JSON.stringify(option)}.`, "UNKNOWN_STRATEGY");
}
