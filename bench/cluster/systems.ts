// The systems the cluster benchmark compares: one entry each. Adding a discoverer (etcd,
// ZooKeeper) or a transporter is one more entry here: say how a node is made, and, when it needs
// a server of its own, how to start it for one measurement (`prepare`). The frameworks load
// lazily inside the workers, so the parent never loads either.
import type { ClusterSpec, NodeSpec } from "./protocol.js";
import type { TrafficCounter } from "./traffic.js";

/** One node as the worker drives it, whatever the framework. */
export interface ClusterNode {
  readonly nodeID: string;
  /** Joins the cluster (the broker's `start()`). */
  start(): Promise<void>;
  /** How many other nodes this node sees alive right now. */
  seen(): number;
  /** Whether this node sees `nodeID` alive right now. */
  sees(nodeID: string): boolean;
}

/** What `prepare` brought up: settings for the nodes, and how to take it down. */
export interface Prepared {
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export interface System {
  /** Row label in the tables. */
  label: string;
  /** How the system is set up, for the results file and the README. */
  how: string;
  /** Each node listens on a port the parent hands out (`NodeSpec.port`). */
  fixedPorts?: boolean;
  /** The measurement uses the shared nats-server: its CPU is reported with the rest. */
  nats?: boolean;
  /**
   * Parent side, before the workers start: brings up what the system needs for one measurement
   * (a private registry server, say). `settings` reach the workers as `spec.settings`.
   */
  prepare?(spec: ClusterSpec): Promise<Prepared>;
  /** Worker side: makes one node (not started); `traffic` counts its discovery packets. */
  createNode(spec: ClusterSpec, node: NodeSpec, traffic: TrafficCounter): Promise<ClusterNode>;
}

const flotilla = async () => import("./flotilla-node.js");
const moleculer = async () => import("./moleculer-node.js");

export const systems: Record<string, System> = {
  "flotilla-nats": {
    label: "Flotilla, nats://",
    how: "transporter nats://127.0.0.1:4222 (connectTimeout 30 s), discovery over the transporter (INFO/DISCOVER/HEARTBEAT)",
    nats: true,
    createNode: async (spec, node, traffic) =>
      (await flotilla()).flotillaNode(spec, node, traffic, {
        // A worker busy with its other nodes' packets may take a while to answer the server's
        // greeting: the 5 s default failed starts at N = 200 on a loaded machine.
        transporter: `${spec.natsUrl}?connectTimeout=30000`,
      }),
  },
  "flotilla-tcp": {
    label: "Flotilla, tcp://",
    how: "tcp:// full mesh on 127.0.0.1, rendezvous directory (fresh per measurement), UDP off",
    createNode: async (spec, node, traffic) =>
      (await flotilla()).flotillaNode(spec, node, traffic, {
        transporter: `tcp://?udp=false&dir=${encodeURIComponent(spec.dir)}`,
      }),
  },
  // Not in the default run: tcp:// without the rendezvous directory, to tell its cost apart.
  "flotilla-tcp-seeds": {
    label: "Flotilla, tcp:// seeds",
    how: "tcp:// full mesh on 127.0.0.1, fixed ports, every node seeded with all N addresses; rendezvous and UDP off",
    fixedPorts: true,
    createNode: async (spec, node, traffic) =>
      (await flotilla()).flotillaNode(spec, node, traffic, {
        transporter: `tcp://?udp=false&rendezvous=false&port=${node.port}&seeds=${spec.nodes
          .map((n) => `127.0.0.1:${n.port}`)
          .join(",")}`,
      }),
  },
  "moleculer-nats": {
    label: "Moleculer, NATS",
    how: "NATS transporter (nats 2.x client) to nats://127.0.0.1:4222, local discoverer",
    nats: true,
    createNode: async (spec, node, traffic) =>
      (await moleculer()).moleculerNode(spec, node, traffic, {
        type: "NATS" as const,
        options: { url: spec.natsUrl },
      }),
  },
  "moleculer-tcp": {
    label: "Moleculer, TCP",
    how: "TCP transporter, UDP discovery off, static `urls` list of all N nodes (127.0.0.1:port/nodeID), gossipPeriod = heartbeat interval",
    fixedPorts: true,
    createNode: async (spec, node, traffic) =>
      (await moleculer()).moleculerNode(spec, node, traffic, {
        type: "TCP" as const,
        options: {
          udpDiscovery: false,
          port: node.port,
          urls: spec.nodes.map((n) => `127.0.0.1:${n.port}/${n.nodeID}`).join(","),
          // Moleculer's TCP transporter turns heartbeats off and gossips instead: the gossip
          // period is its heartbeat interval.
          gossipPeriod: Math.max(1, Math.round(spec.heartbeatInterval / 1000)),
        },
      }),
  },
  // A registry center: each node's entry in a private etcd (one per measurement), tcp:// with
  // neither the rendezvous directory nor UDP, so etcd alone says where peers are. The etcd
  // traffic is not in the packet counts (only the transporter's), nor etcd's CPU in the figures.
  "flotilla-tcp-etcd": {
    label: "Flotilla, tcp:// + etcd",
    how: "tcp:// full mesh on 127.0.0.1 (UDP and rendezvous off), discovery etcd:// (a private etcd per measurement; leases with TTL = heartbeatTimeout)",
    prepare: async () => {
      const { PrivateServer } = await import("../../test/harness/index.js");
      const etcd = await PrivateServer.start("etcd");
      return { settings: { discovery: etcd.url }, stop: () => etcd.cleanup() };
    },
    createNode: async (spec, node, traffic) =>
      (await flotilla()).flotillaNode(spec, node, traffic, {
        transporter: "tcp://?udp=false",
        ...(spec.settings.discovery === undefined ? {} : { discovery: spec.settings.discovery }),
      }),
  },
};
