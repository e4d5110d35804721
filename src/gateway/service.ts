import { ServiceSchemaError } from "../errors/index.js";
import { defineService } from "../service/define.js";
import type { Service } from "../service/service.js";
import type { Dependency, ServiceDefinition } from "../service/types.js";
import type { GatewayBroker } from "./dispatch.js";
import { type Gateway, startGateway } from "./gateway.js";
import type { GatewayOptions } from "./options.js";

/** Options of {@link gatewayService}: the gateway's, plus the service's name and dependencies. */
export interface GatewayServiceOptions extends GatewayOptions {
  /** The service name. Default `gateway`. */
  name?: string;
  /** Services to wait for before listening (routes of others appear as they start anyway). */
  dependencies?: readonly Dependency[];
}

const running = new WeakMap<object, Gateway>();

/**
 * The gateway as a service, for any node: it starts listening when the broker starts the
 * service and closes when the broker stops it. Reach the running gateway with {@link gatewayOf}.
 *
 * @example
 * ```ts
 * broker.createService(gatewayService({ port: 3000, prefix: "/api" }));
 * await broker.start(); // listening
 * ```
 */
export function gatewayService(options: GatewayServiceOptions = {}): ServiceDefinition {
  const { name = "gateway", dependencies, ...gatewayOptions } = options;
  return defineService({
    name,
    dependencies: dependencies ?? [],
    settings: {},
    async started(service: Service) {
      const broker = service.broker as Partial<GatewayBroker>;
      if (typeof broker.registry?.catalog !== "function" || broker.logger === undefined) {
        throw new ServiceSchemaError(`Service '${name}' needs a ServiceBroker to run a gateway.`);
      }
      running.set(service, await startGateway(broker as GatewayBroker, gatewayOptions));
    },
    async stopped(service: Service) {
      const gateway = running.get(service);
      running.delete(service);
      await gateway?.close();
    },
  }) as ServiceDefinition;
}

/**
 * The gateway that a {@link gatewayService} runs on `broker`, once started.
 *
 * @example
 * ```ts
 * const { address } = gatewayOf(broker)!;
 * ```
 */
export function gatewayOf(
  broker: { registry: { services: ReadonlyMap<string, object> } },
  name = "gateway",
): Gateway | undefined {
  const service = broker.registry.services.get(name);
  return service === undefined ? undefined : running.get(service);
}
