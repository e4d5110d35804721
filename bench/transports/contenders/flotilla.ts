// Flotilla: a `ServiceBroker` per side, its defaults except `logger: false`, the namespace from
// the endpoint, `serializer: "msgpack"` for codec msgpack. Per call: `broker.call()` → one request
// packet to the server node and one response packet back through the transporter (on a broker:
// one publish each way), with Flotilla's envelope, validation, resilience and registry lookup.
//   tcp    tcp:// with discovery off (no UDP, no rendezvous directory): the server listens on the
//          endpoint's port and the client dials it as a seed, as Moleculer's client dials its
//          static url; then one session between the two nodes carries the calls
//   nats   nats://127.0.0.1:4222      redis  redis://127.0.0.1:6379
//   amqp   amqp://guest:guest@127.0.0.1:5672
import type { ServiceBroker as FlotillaBroker } from "flotilla";
import type { Contender, Endpoint } from "../contract.js";
import { BROKER_URLS, brokerContender, randomSuffix } from "./shared.js";

function transporterUrl(at: Endpoint, side: "server" | "client"): string {
  if (at.transport !== "tcp") return BROKER_URLS[at.transport];
  return side === "server"
    ? `tcp://?port=${at.port}&rendezvous=false&udp=false`
    : `tcp://127.0.0.1:${at.port}?rendezvous=false&udp=false`;
}

async function startBroker(at: Endpoint, side: "server" | "client"): Promise<FlotillaBroker> {
  const { defineService, ServiceBroker } = await import("flotilla");
  const broker = new ServiceBroker({
    nodeID: `f-${side}-${randomSuffix()}`,
    namespace: at.namespace,
    logger: false,
    transporter: transporterUrl(at, side),
    serializer: at.codec,
  });
  if (side === "server") {
    broker.createService(
      defineService({
        name: "math",
        actions: {
          add: { handler: (ctx) => (ctx.params.a as number) + (ctx.params.b as number) },
        },
      }),
    );
    broker.createService(
      defineService({ name: "bench", actions: { echo: { handler: (ctx) => ctx.params } } }),
    );
  }
  await broker.start();
  return broker;
}

export const flotilla: Contender = brokerContender("flotilla", startBroker);
