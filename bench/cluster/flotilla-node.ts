// A Flotilla node of the cluster benchmark: a broker with three small services (seven actions
// with zod params, two event listeners), on a transporter wrapped to count discovery packets.
import {
  type BrokerOptions,
  defineService,
  resolveTransporter,
  ServiceBroker,
  type Transporter,
} from "flotilla";
import { z } from "zod";
import type { ClusterSpec, Kind, NodeSpec } from "./protocol.js";
import type { ClusterNode } from "./systems.js";
import type { TrafficCounter } from "./traffic.js";

const accounts = defineService({
  name: "accounts",
  actions: {
    get: { params: z.object({ id: z.number().int() }), handler: (ctx) => ({ id: ctx.params.id }) },
    list: {
      params: z.object({ limit: z.number().int().max(100).optional() }),
      handler: () => [],
    },
    create: {
      params: z.object({ name: z.string().min(1), email: z.string() }),
      handler: (ctx) => ({ id: 1, ...ctx.params }),
    },
  },
});

const billing = defineService({
  name: "billing",
  actions: {
    get: { params: z.object({ id: z.number().int() }), handler: (ctx) => ({ id: ctx.params.id }) },
    charge: {
      params: z.object({
        accountId: z.number().int(),
        items: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
      }),
      handler: () => ({ ok: true }),
    },
  },
  events: { "accounts.created": { handler: () => {} } },
});

const notify = defineService({
  name: "notify",
  actions: {
    send: {
      params: z.object({ to: z.string(), subject: z.string(), body: z.string().optional() }),
      handler: () => true,
    },
    status: { handler: () => "ok" },
  },
  events: { "billing.charged": { handler: () => {} } },
});

/** Adds the bench's three services to a broker. */
export function addServices(broker: ServiceBroker): void {
  broker.createService(accounts);
  broker.createService(billing);
  broker.createService(notify);
}

/** Packet type codes of the wire header (byte 2), by kind. */
const kinds = new Map<number, Kind>([
  [4, "discover"],
  [5, "info"],
  [6, "heartbeat"],
  [9, "disconnect"],
]);
const kindOf = (data: Uint8Array): Kind => kinds.get(data[2] ?? 0) ?? "other";

/** `inner`, counting every packet published and every packet delivered, by kind. */
function counted(inner: Transporter, traffic: TrafficCounter): Transporter {
  return {
    capabilities: inner.capabilities,
    connect: (context) =>
      inner.connect({
        ...context,
        onMessage: (topic, data, from) => {
          traffic.received(kindOf(data), data.length);
          return context.onMessage(topic, data, from);
        },
      }),
    disconnect: () => inner.disconnect(),
    kill: inner.kill === undefined ? undefined : () => inner.kill!(),
    dropPeer: inner.dropPeer === undefined ? undefined : (nodeID) => inner.dropPeer!(nodeID),
    // What a registry discoverer needs of tcp:// (the addresses it advertises and dials).
    advertise: inner.advertise === undefined ? undefined : () => inner.advertise!(),
    addPeer:
      inner.addPeer === undefined
        ? undefined
        : (nodeID, address) => inner.addPeer!(nodeID, address),
    hasPeer: inner.hasPeer === undefined ? undefined : (nodeID) => inner.hasPeer!(nodeID),
    removePeer: inner.removePeer === undefined ? undefined : (nodeID) => inner.removePeer!(nodeID),
    subscribe: (topic, group, options) => inner.subscribe(topic, group, options),
    publish: (topic, data, options) => {
      traffic.sent(kindOf(data), data.length);
      return inner.publish(topic, data, options);
    },
  };
}

/** Options of a system's nodes beyond the shared ones; `transporter` as a URL. */
export type FlotillaNodeOptions = Omit<BrokerOptions, "transporter"> & { transporter: string };

export async function flotillaNode(
  spec: ClusterSpec,
  node: NodeSpec,
  traffic: TrafficCounter,
  options: FlotillaNodeOptions,
): Promise<ClusterNode> {
  const { transporter, ...rest } = options;
  const broker = new ServiceBroker({
    nodeID: node.nodeID,
    namespace: spec.namespace,
    logger: false,
    heartbeatInterval: spec.heartbeatInterval,
    heartbeatTimeout: spec.heartbeatTimeout,
    ...rest,
    transporter: counted(await resolveTransporter(transporter), traffic),
  });
  addServices(broker);
  const nodes = broker.registry.remote.nodes;
  return {
    nodeID: node.nodeID,
    start: () => broker.start(),
    seen: () => nodes.size,
    sees: (nodeID) => nodes.has(nodeID),
  };
}
