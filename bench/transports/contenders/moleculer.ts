// Moleculer 0.15: a `ServiceBroker` per side, `logger: false`, the namespace from the endpoint,
// `serializer: "MsgPack"` (msgpack5) for codec msgpack, JSON otherwise. Per call: `broker.call()`
// → one REQ packet to the server node and one RES packet back (on a broker: one publish each way;
// on AMQP the request goes through the action's balanced queue and is acked).
//   tcp    its TCP transporter, UDP discovery off, the client dialing the server's static url
//   nats   nats://127.0.0.1:4222 (the `nats` 2.x client)   redis  redis://127.0.0.1:6379 (ioredis)
//   amqp   amqplib, tuned as below
import type { BrokerOptions, ServiceBroker } from "moleculer";
import type { Contender, Endpoint } from "../contract.js";
import { BROKER_URLS, brokerContender } from "./shared.js";

const SERVER = "m-server";
/** Its TCP transporter drops packets over 1 MiB by default; 16 MiB as Flotilla's default. */
const MAX_PACKET = 16 * 1024 * 1024;

/**
 * Moleculer's transporter option. Its types know neither URL strings nor the AMQP transporter's
 * `socketOptions` (which its code passes to amqplib), hence the cast where it is used.
 */
type TransporterOption = string | { type: string; options: Record<string, unknown> };

function transporter(at: Endpoint, side: "server" | "client"): TransporterOption {
  switch (at.transport) {
    case "tcp": {
      const common = { udpDiscovery: false, maxPacketSize: MAX_PACKET };
      // The server listens on the endpoint's port; the client on a random one, which it tells
      // the server in its HELLO when it dials the server's static url.
      return side === "server"
        ? { type: "TCP", options: { ...common, port: at.port } }
        : { type: "TCP", options: { ...common, urls: `127.0.0.1:${at.port}/${SERVER}` } };
    }
    case "amqp":
      return {
        type: "AMQP",
        options: {
          url: BROKER_URLS.amqp,
          // Tuned as the "tuned" row of bench/remote-call/amqp.ts. With the defaults it manages
          // ~23 calls/s: amqplib leaves Nagle's algorithm on, so each small frame of a round
          // trip waits for the peer's delayed ACK (~40 ms). noDelay sends frames at once.
          socketOptions: { noDelay: true },
          // Its default prefetch of 1 lets the server hold one unacked request at a time, so
          // calls in flight would queue in RabbitMQ one by one; 64 lets 64 run at once.
          prefetch: 64,
          // Cleanup only (no per-call cost): queues and exchanges go away with their last
          // consumer or binding, instead of piling up in RabbitMQ per benchmark namespace.
          queueOptions: { autoDelete: true },
          exchangeOptions: { autoDelete: true },
        },
      };
    default:
      return BROKER_URLS[at.transport];
  }
}

async function startBroker(at: Endpoint, side: "server" | "client"): Promise<ServiceBroker> {
  const { ServiceBroker } = await import("moleculer");
  const broker = new ServiceBroker({
    nodeID: side === "server" ? SERVER : "m-client",
    namespace: at.namespace,
    logger: false,
    transporter: transporter(at, side) as BrokerOptions["transporter"],
    serializer: at.codec === "msgpack" ? "MsgPack" : "JSON",
  });
  if (side === "server") {
    broker.createService({
      name: "math",
      actions: {
        add: (ctx: { params: { a: number; b: number } }) => ctx.params.a + ctx.params.b,
      },
    });
    broker.createService({
      name: "bench",
      actions: { echo: (ctx: { params: unknown }) => ctx.params },
    });
  }
  await broker.start();
  return broker;
}

export const moleculer: Contender = brokerContender("moleculer", startBroker);
