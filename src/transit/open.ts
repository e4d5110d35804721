import type { BrokerOptions } from "../broker/options.js";
import type { Strategy } from "../registry/strategies/index.js";
import { secureTransport } from "../security/index.js";
import type { Serializer } from "../serializers/index.js";
import { resolveTransporter } from "../transporters/index.js";
import { DEFAULT_MAX_PACKET_SIZE } from "./core.js";
import { Transit, type TransitDeps } from "./transit.js";

/**
 * Resolves the broker's transporter, builds the transit layer with the broker's settings (and
 * their defaults), and connects it: the node joins the cluster.
 */
export async function openTransit(
  deps: TransitDeps,
  options: BrokerOptions,
  serializer: Serializer,
  strategy: Strategy,
): Promise<Transit | undefined> {
  const option = options.transporter;
  if (option === undefined) return undefined;
  const resolved = typeof option === "string" ? await resolveTransporter(option) : option;
  const { auth, transporter } = secureTransport(resolved, options.security, deps.namespace);
  const transit = new Transit(deps, {
    transporter,
    auth,
    serializer,
    strategy,
    maxCallLevel: options.maxCallLevel ?? 100,
    requestTimeout: options.requestTimeout ?? 10_000,
    circuitBreaker: options.circuitBreaker,
    settings: {
      heartbeatInterval: options.heartbeatInterval ?? 1_000,
      heartbeatTimeout: options.heartbeatTimeout ?? 4_000,
      maxPacketSize: options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE,
      preferLocal: options.preferLocal ?? true,
      balancing: options.balancing ?? "registry",
    },
  });
  await transit.connect();
  return transit;
}
