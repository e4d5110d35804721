// A Moleculer node of the cluster benchmark: the same three services as the Flotilla node (seven
// actions with fastest-validator params, two event listeners), with a transporter middleware
// that counts discovery packets. Moleculer adds its `$node` service to every node, as it does
// in production.
import { type BrokerOptions, type Middleware, ServiceBroker, type ServiceSchema } from "moleculer";
import type { ClusterSpec, Kind, NodeSpec } from "./protocol.js";
import type { ClusterNode } from "./systems.js";
import type { TrafficCounter } from "./traffic.js";

export const services: ServiceSchema[] = [
  {
    name: "accounts",
    actions: {
      get: { params: { id: "number|integer" }, handler: () => ({}) },
      list: { params: { limit: { type: "number", max: 100, optional: true } }, handler: () => [] },
      create: { params: { name: "string|min:1", email: "string" }, handler: () => ({}) },
    },
  },
  {
    name: "billing",
    actions: {
      get: { params: { id: "number|integer" }, handler: () => ({}) },
      charge: {
        params: {
          accountId: "number|integer",
          items: {
            type: "array",
            items: { type: "object", props: { sku: "string", qty: "number" } },
          },
        },
        handler: () => ({ ok: true }),
      },
    },
    events: { "accounts.created": { handler: () => {} } },
  },
  {
    name: "notify",
    actions: {
      send: {
        params: { to: "string", subject: "string", body: "string|optional" },
        handler: () => true,
      },
      status: { handler: () => "ok" },
    },
    events: { "billing.charged": { handler: () => {} } },
  },
];

const kinds: Record<string, Kind> = {
  HEARTBEAT: "heartbeat",
  INFO: "info",
  DISCOVER: "discover",
  DISCONNECT: "disconnect",
  GOSSIP_REQ: "gossip",
  GOSSIP_RES: "gossip",
  GOSSIP_HELLO: "gossip",
};
const kindOf = (type: unknown): Kind =>
  (typeof type === "string" ? kinds[type] : undefined) ?? "other";

interface SendMeta {
  packet?: { type?: string };
}

/** Counts at the transporter, through Moleculer's own hooks around `send` and `receive`. */
function counter(traffic: TrafficCounter): Middleware {
  // Moleculer's typings say these hooks return what `send` returns; they return the wrapper.
  return {
    name: "bench-traffic",
    transporterSend(next: (topic: string, data: Buffer, meta: SendMeta) => Promise<void>) {
      return (topic: string, data: Buffer, meta: SendMeta) => {
        traffic.sent(kindOf(meta?.packet?.type), data.length);
        return next(topic, data, meta);
      };
    },
    transporterReceive(next: (cmd: string, data: Buffer, socket: unknown) => unknown) {
      return (cmd: string, data: Buffer, socket: unknown) => {
        traffic.received(kindOf(cmd), data?.length ?? 0);
        return next(cmd, data, socket);
      };
    },
  } as unknown as Middleware;
}

export async function moleculerNode(
  spec: ClusterSpec,
  node: NodeSpec,
  traffic: TrafficCounter,
  transporter: BrokerOptions["transporter"],
): Promise<ClusterNode> {
  const broker = new ServiceBroker({
    nodeID: node.nodeID,
    namespace: spec.namespace,
    logger: false,
    transporter,
    heartbeatInterval: spec.heartbeatInterval / 1000,
    heartbeatTimeout: spec.heartbeatTimeout / 1000,
    skipProcessEventRegistration: true,
    middlewares: [counter(traffic)],
  });
  for (const service of services) broker.createService(service);
  const nodes = broker.registry.nodes;
  return {
    nodeID: node.nodeID,
    start: () => broker.start(),
    // Moleculer counts this node among the available ones.
    seen: () => nodes.onlineCount() - 1,
    sees: (nodeID) => nodes.get(nodeID)?.available === true,
  };
}
