import type { Pipeline } from "../middleware/pipeline.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../registry/registry.js";
import type { Service } from "../service/service.js";
import type { AnyServiceDefinition, ServiceHost } from "../service/types.js";
import type { ServiceActivity } from "./activity.js";
import type { BrokerState, Lifecycle, StartHost } from "./lifecycle.js";
import { loadService } from "./loader.js";

/** What removing or replacing one service at runtime needs of its broker. */
export interface ReplaceHost {
  readonly host: ServiceHost;
  readonly registry: Registry;
  readonly pipeline: Pipeline;
  readonly lifecycle: Lifecycle;
  readonly start: StartHost;
  readonly logger: Logger;
  readonly state: BrokerState;
  /** Counts each service's running handlers (installed on first use). */
  readonly activity: ServiceActivity;
  /** Longest wait for the service's calls in flight, in ms (the broker's `drainTimeout`). */
  readonly drainTimeout: number;
  /**
   * How long calls sent before the others heard that the service left may still take to arrive,
   * in ms (0 without a transporter).
   */
  readonly grace: number;
}

/**
 * Drains a local service, stops it and removes it, while the node and its other services keep
 * running: the cluster is told first that this node no longer offers it (no new calls are routed
 * here), then calls and handlers already running finish (up to `drainTimeout`), then its
 * `stopped` hook runs and what it owns is released. Calls that still arrive while it drains are
 * served. Returns `false` when no such service runs here.
 */
export async function destroyService(h: ReplaceHost, fullName: string): Promise<boolean> {
  const service = h.registry.services.get(fullName);
  if (service === undefined) return false;
  if (h.registry.isStarted(fullName)) await h.start.markAvailable(service, false);
  if (h.grace > 0) await new Promise((resolve) => setTimeout(resolve, h.grace));
  if (!(await h.activity.idle(service, h.drainTimeout))) {
    h.logger.warn(
      { service: fullName, inFlight: h.activity.running(service), drainTimeout: h.drainTimeout },
      `Drain timeout passed with calls of '${fullName}' still in flight`,
    );
  }
  await h.lifecycle.stopOne(service, h.start);
  h.registry.removeService(service);
  return true;
}

/**
 * Puts `definition` in the place of the running service of the same full name (or adds it when
 * there is none): the new definition is checked first (a bad one throws and leaves the old one
 * running), then the old one is drained and stopped as {@link destroyService} does, and the new
 * one is created and, on a running broker, started. A new version whose start fails is left
 * stopped and the error thrown; the node's other services are not touched.
 */
export async function replaceService(
  h: ReplaceHost,
  definition: AnyServiceDefinition,
): Promise<Service> {
  const loaded = loadService(definition, h.host, h.logger);
  const { service, actions, listeners } = loaded;
  await destroyService(h, service.fullName);
  for (const action of actions) h.pipeline.wrapAction(action);
  for (const listener of listeners) h.pipeline.wrapEvent(listener);
  h.registry.addService(service, actions, listeners);
  try {
    await definition.created?.(service);
    if (h.state === "started") await h.lifecycle.startOne(service, h.start);
  } catch (err) {
    h.registry.removeService(service);
    throw err;
  }
  return service;
}
