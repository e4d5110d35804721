// One server of the gateway benchmark, run in its own process so the load generator does not
// share its event loop: `node --import tsx bench/gateway/server.ts <variant>`. Tells the parent
// its port over IPC once it serves. Variants: fastify, flotilla, moleculer, flotilla-tcp-gateway,
// flotilla-tcp-service.

import Fastify from "fastify";
import { defineService, ServiceBroker } from "flotilla";
import { ServiceBroker as MoleculerBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { startGateway } from "../../src/gateway/index.js";

const variant = process.argv[2];
const payload = () => ({ hello: "world", n: 42 });
const ready = (port: number): void => {
  process.send?.({ ready: true, port });
};
// The parent asks for this process's CPU time before and after a load run: on a machine where
// the load generator saturates first, server CPU per request still tells the variants apart.
process.on("message", (message) => {
  if (message === "cpu") process.send?.({ cpu: process.cpuUsage() });
});
const fail = (reason: string): void => {
  process.send?.({ ready: false, reason });
  process.exit(1);
};

const greeter = defineService({
  name: "greeter",
  actions: {
    hello: { rest: "GET /hello", visibility: "published", handler: async () => payload() },
  },
});

async function main(): Promise<void> {
  switch (variant) {
    case "fastify": {
      const app = Fastify({ logger: false });
      app.get("/hello", async () => payload());
      await app.listen({ port: 0, host: "127.0.0.1" });
      return ready(portOf(app.server.address()));
    }
    case "flotilla": {
      const broker = new ServiceBroker({ logger: false, nodeID: "bench-gw" });
      broker.createService(greeter);
      await broker.start();
      const gateway = await startGateway(broker, { port: 0 });
      return ready(Number(new URL(gateway.address!).port));
    }
    case "moleculer": {
      const broker = new MoleculerBroker({ logger: false, nodeID: "bench-mw" });
      broker.createService({
        name: "greeter",
        actions: { hello: { handler: async () => payload() } },
      });
      const api = broker.createService({
        name: "api",
        mixins: [ApiGateway],
        settings: {
          port: 0,
          ip: "127.0.0.1",
          logRequest: null,
          logResponse: null,
          routes: [
            { path: "/", aliases: { "GET /hello": "greeter.hello" }, mappingPolicy: "restrict" },
          ],
        },
      });
      await broker.start();
      const server = (api as unknown as { server: { address(): unknown } }).server;
      return ready(portOf(server.address()));
    }
    case "flotilla-tcp-service": {
      const broker = new ServiceBroker({
        logger: false,
        nodeID: "bench-svc",
        transporter: tcpUrl(),
      });
      broker.createService(greeter);
      await broker.start();
      return ready(0);
    }
    case "flotilla-tcp-gateway": {
      const broker = new ServiceBroker({
        logger: false,
        nodeID: "bench-gw-tcp",
        transporter: tcpUrl(),
      });
      await broker.start();
      await broker.waitForServices("greeter", 15_000);
      const gateway = await startGateway(broker, { port: 0 });
      return ready(Number(new URL(gateway.address!).port));
    }
    default:
      return fail(`unknown variant ${variant}`);
  }
}

function tcpUrl(): string {
  return process.env.BENCH_TCP_URL ?? "tcp://";
}

function portOf(address: unknown): number {
  if (typeof address === "object" && address !== null && "port" in address) {
    return Number((address as { port: number }).port);
  }
  throw new Error(`no port in ${String(address)}`);
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
