import type { BrokerOptions } from "../broker/options.js";
import { resolveDiscoverer } from "../registry/discoverers/index.js";
import type { Strategy } from "../registry/strategies/index.js";
import { secureTransport } from "../security/index.js";
import type { Serializer } from "../serializers/index.js";
import { resolveTransporter } from "../transporters/index.js";
import { DEFAULT_MAX_PACKET_SIZE } from "./core.js";
import { Transit, type TransitDeps } from "./transit.js";

/**
 * Resolves the broker's transporter and discoverer (`discovery`: local unless a registry center
 * is named), builds the transit layer with the broker's settings (and
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
  const discoverer = await resolveDiscoverer(options.discovery);
  const transit = new Transit(deps, {
    transporter,
    auth,
    serializer,
    strategy,
    maxCallLevel: options.maxCallLevel ?? 100,
    requestTimeout: options.requestTimeout ?? 10_000,
    circuitBreaker: options.circuitBreaker,
    discoverer,
    // A registry center that cannot be reached holds the start as a dependency would.
    registryTimeout: options.dependencyTimeout ?? 30_000,
    settings: {
      heartbeatInterval: options.heartbeatInterval ?? 1_000,
      heartbeatTimeout: options.heartbeatTimeout ?? 4_000,
      maxPacketSize: options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE,
      preferLocal: options.preferLocal ?? true,
      balancing: options.balancing ?? "registry",
    },
  });
  try {
    await transit.connect();
  } catch (err) {
    // Nothing half-open is left behind: the transporter and a registry client close again.
    await transit.disconnect().catch(() => undefined);
    throw err;
  }
  return transit;
}
