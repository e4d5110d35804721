import { ServiceBroker } from "../broker/broker.js";
import type { BrokerOptions } from "../broker/options.js";
import {
  createMemoryTransporter,
  MemoryBus,
  type MemoryFilterVerdict,
} from "../transporters/memory/index.js";
import { crashNode } from "./faults.js";

/** Which messages a fault applies to: from and/or to given nodes (all when left out). */
export interface FaultScope {
  from?: string | readonly string[];
  to?: string | readonly string[];
}

type Rule = (from: string, to: string) => MemoryFilterVerdict;

/** An in-process cluster on its own memory bus, with faults to inject. */
export interface TestCluster {
  /** The bus all nodes of the cluster share. */
  readonly bus: MemoryBus;
  /** The nodes made so far, by node ID. */
  readonly nodes: ReadonlyMap<string, ServiceBroker>;
  /** Makes a node (not started) on the cluster's bus. */
  node(nodeID: string, options?: BrokerOptions): ServiceBroker;
  /** Starts every node that is not started. */
  start(): Promise<void>;
  /** Stops every node. */
  stop(): Promise<void>;
  /** Kills a node as kill -9 would: no goodbye; the others see its connection drop. */
  kill(nodeID: string): Promise<void>;
  /** Cuts every message between two nodes (both ways) until healed. */
  partition(a: string, b: string): void;
  /** Delays matching messages by `ms` (order is kept per link). */
  latency(ms: number, scope?: FaultScope): void;
  /** Drops a share (0-1) of matching messages at random. */
  dropRate(share: number, scope?: FaultScope): void;
  /** Removes every fault. */
  heal(): void;
}

/**
 * An in-process multi-node cluster over `memory://` for testing services' resilience: kill a
 * node, partition two, add latency, or drop a share of packets. Nodes get silent loggers and
 * short heartbeats (100 ms, 1 s timeout) unless the options say otherwise.
 *
 * @example
 * ```ts
 * const cluster = createTestCluster();
 * cluster.node("a").createService(users);
 * cluster.node("b").createService(users);
 * const caller = cluster.node("caller");
 * await cluster.start();
 * cluster.partition("caller", "a");
 * await caller.call("users.get", { id: 1 }); // served by b
 * await cluster.stop();
 * ```
 */
export function createTestCluster(defaults: BrokerOptions = {}): TestCluster {
  const bus = new MemoryBus("test-cluster");
  const nodes = new Map<string, ServiceBroker>();
  let rules: Rule[] = [];
  bus.setFilter((from, to) => {
    let delay = 0;
    for (const rule of rules) {
      const verdict = rule(from, to);
      if (verdict === "drop") return "drop";
      if (typeof verdict === "number") delay += verdict;
    }
    return delay > 0 ? delay : undefined;
  });
  const matches = (scope: FaultScope | undefined, from: string, to: string) =>
    within(scope?.from, from) && within(scope?.to, to);
  return {
    bus,
    nodes,
    node(nodeID, options = {}) {
      const broker = new ServiceBroker({
        logger: false,
        heartbeatInterval: 100,
        heartbeatTimeout: 1_000,
        ...defaults,
        ...options,
        nodeID,
        transporter: createMemoryTransporter(bus),
      });
      nodes.set(nodeID, broker);
      return broker;
    },
    async start() {
      await Promise.all(
        [...nodes.values()]
          .filter((n) => n.state === "created" || n.state === "stopped")
          .map((n) => n.start()),
      );
    },
    async stop() {
      await Promise.allSettled([...nodes.values()].map((n) => n.stop()));
    },
    async kill(nodeID) {
      const broker = nodes.get(nodeID);
      if (broker === undefined) throw new Error(`No node '${nodeID}' in this cluster.`);
      await crashNode(broker);
    },
    partition(a, b) {
      rules.push((from, to) =>
        (from === a && to === b) || (from === b && to === a) ? "drop" : undefined,
      );
    },
    latency(ms, scope) {
      rules.push((from, to) => (matches(scope, from, to) ? ms : undefined));
    },
    dropRate(share, scope) {
      rules.push((from, to) =>
        matches(scope, from, to) && Math.random() < share ? "drop" : undefined,
      );
    },
    heal() {
      rules = [];
    },
  };
}

function within(set: string | readonly string[] | undefined, nodeID: string): boolean {
  if (set === undefined) return true;
  return typeof set === "string" ? set === nodeID : set.includes(nodeID);
}
