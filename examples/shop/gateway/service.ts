// The shop's gateway: the REST API under /api (routes.ts), the live order events
// (order-events.ts) and the storefront's static files on /, as one service:
//   flotilla run examples/shop/gateway/service.ts --node-id gateway
//
// It builds on `createGateway` rather than `gatewayService`: the latter listens as soon as it is
// created, and Fastify takes no new routes once listening, while the event stream and the
// status route have to be added in between (docs/gateway.md, "Adding your own routes").
import { fileURLToPath } from "node:url";
import { defineService, type ServiceBroker, type ServiceDefinition } from "flotilla";
import { createGateway, type Gateway } from "flotilla/gateway";
import { z } from "zod";
import { SHOP_SERVICES, shopConfig } from "../shared/config.js";
import { OrderEvents } from "./order-events.js";
import { type LoginLimit, shopGatewayOptions } from "./routes.js";

/** Options of {@link shopGateway}; each defaults to the shop's configuration (shared/config.ts). */
export interface ShopGatewayOptions {
  /** HTTP port; 0 picks a free one. Default `SHOP_PORT` (3000). */
  port?: number;
  /** Interface. Default `SHOP_HOST` (`127.0.0.1`). */
  host?: string;
  /** The users' token secret. Default `SHOP_JWT_SECRET`. */
  secret?: string;
  /** Login attempts per client and window. Default 10 a minute. */
  loginLimit?: LoginLimit;
  /** Milliseconds between heartbeats on the event streams. Default 15 000. */
  heartbeat?: number;
}

/** A running shop gateway: the HTTP gateway and its event streams. */
export interface RunningShopGateway {
  readonly gateway: Gateway;
  readonly events: OrderEvents;
}

const running = new WeakMap<object, RunningShopGateway>();
const storefront = fileURLToPath(new URL("./storefront/", import.meta.url));

const OrderStatus = z.object({
  orderId: z.string(),
  userId: z.string(),
  status: z.enum(["pending", "confirmed", "rejected"]),
  reason: z.string().optional(),
});

/**
 * The gateway service. Its `orders.status` handler is a `broadcast` one, so every gateway
 * instance hears every status change (each has its own group, named after its node) and tells
 * the streams of the order's user that it holds.
 *
 * @example
 * ```ts
 * broker.createService(shopGateway({ port: 0 }));
 * await broker.start();
 * const { address } = shopGatewayOf(broker)!.gateway;
 * ```
 */
export function shopGateway(options: ShopGatewayOptions = {}): ServiceDefinition {
  return defineService({
    name: "gateway",
    events: {
      "orders.status": {
        params: OrderStatus,
        kind: "broadcast",
        handler(ctx) {
          if (ctx.service !== undefined) running.get(ctx.service)?.events.publish(ctx.params);
        },
      },
    },
    async started(service) {
      const config = shopConfig();
      const secret = options.secret ?? config.jwtSecret;
      // `flotilla run` and the tests start this service on a ServiceBroker.
      const broker = service.broker as unknown as ServiceBroker;
      const gateway = await createGateway(
        broker,
        shopGatewayOptions({
          port: options.port ?? config.port,
          host: options.host ?? config.host,
          secret,
          storefront,
          loginLimit: options.loginLimit,
        }),
      );
      const events = new OrderEvents({ secret, heartbeat: options.heartbeat });
      events.route(gateway.app, "/api/orders/events");
      // Whether every service of the shop is up: `npm start` waits for `ready` before it prints
      // the URL. Routes are not enough: the email service has none.
      gateway.app.get("/api/status", async () => {
        const services = Object.fromEntries(
          SHOP_SERVICES.map((name) => [name, broker.registry.isAvailable(name)]),
        );
        return { ready: Object.values(services).every(Boolean), services };
      });
      try {
        await gateway.listen();
      } catch (err) {
        events.close();
        await gateway.close();
        throw err;
      }
      running.set(service, { gateway, events });
      service.logger.info(`Storefront on ${gateway.address}/`);
    },
    async stopped(service) {
      const shop = running.get(service);
      running.delete(service);
      // Event streams never finish on their own: end them first, or closing would wait on them.
      shop?.events.close();
      await shop?.gateway.close();
    },
  }) as ServiceDefinition;
}

/**
 * The running gateway of a {@link shopGateway} service on `broker`, once started.
 *
 * @example
 * ```ts
 * const base = shopGatewayOf(broker)?.gateway.address;
 * ```
 */
export function shopGatewayOf(broker: {
  registry: { services: ReadonlyMap<string, object> };
}): RunningShopGateway | undefined {
  const service = broker.registry.services.get("gateway");
  return service === undefined ? undefined : running.get(service);
}

/** What `flotilla run` starts: the gateway with the shop's configuration from the environment. */
export default shopGateway();
