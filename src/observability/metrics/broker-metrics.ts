import { createRequire } from "node:module";
import type * as Prom from "prom-client";
import type { Middleware } from "../../middleware/hooks.js";
import { newTraffic, type TransitTraffic } from "../../transit/core.js";
import { type MetricsHost, registerCollectors } from "./collectors.js";
import { allInstruments, createInstruments, type Instruments } from "./instruments.js";
import { metricsMiddleware } from "./middleware.js";
import { type MetricsOptions, resolveMetricsOptions } from "./options.js";

/**
 * A broker's metrics in the Prometheus text format (`broker.metrics`, when they are on): what
 * the health server and the gateway serve on `/metrics`.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ metrics: true });
 * const metrics = broker.metrics!;
 * response.writeHead(200, { "content-type": metrics.contentType }).end(await metrics.text());
 * ```
 */
export interface BrokerMetrics {
  /** The `Content-Type` of {@link BrokerMetrics.text}: Prometheus text format 0.0.4. */
  readonly contentType: string;
  /**
   * This broker's own prom-client registry: register the application's metrics on it and they
   * are served with Flotilla's.
   */
  readonly registry: Prom.Registry;
  /** The exposition: every metric, as Prometheus scrapes it. */
  text(): Promise<string>;
}

/** {@link BrokerMetrics} plus what the broker wires in: the middleware and the traffic counters. */
export interface MetricsRuntime extends BrokerMetrics {
  /** Counts and times calls and events; the broker adds it after the tracing middleware. */
  readonly middleware: Middleware;
  /** Packets and bytes, counted by transit (kept across restarts of the broker). */
  readonly traffic: TransitTraffic;
  /** The hot-path metrics (for tests). */
  readonly instruments: Instruments;
}

// prom-client is loaded on first use, so a node without metrics never loads it (about 80 ms).
let promClient: typeof Prom | undefined;
function loadPromClient(): typeof Prom {
  promClient ??= createRequire(import.meta.url)("prom-client") as typeof Prom;
  return promClient;
}

/**
 * The metrics of a broker with this `metrics` option, or `undefined` when it has none (see
 * `resolveMetricsOptions`: `false` off, `true` or settings on, by default `$FLOTILLA_METRICS`).
 * Each broker has its own prom-client registry; the global one is never touched, so several
 * brokers in one process each serve their own.
 *
 * @example
 * ```ts
 * const metrics = createBrokerMetrics(broker, { prefix: "shop_" });
 * if (metrics) pipeline.add(metrics.middleware);
 * ```
 */
export function createBrokerMetrics(
  host: MetricsHost,
  option: boolean | MetricsOptions | undefined,
): MetricsRuntime | undefined {
  const settings = resolveMetricsOptions(option);
  if (settings === undefined) return undefined;
  const prom = loadPromClient();
  const registry = new prom.Registry();
  const instruments = createInstruments(settings.prefix, settings.buckets);
  for (const metric of allInstruments(instruments)) {
    // Not prom-client classes, but what its registry reads of one (see series.ts).
    registry.registerMetric(metric as unknown as Prom.Metric);
  }
  const traffic = newTraffic();
  registerCollectors(prom, registry, settings.prefix, host, traffic);
  if (settings.processMetrics) {
    prom.collectDefaultMetrics({ register: registry, prefix: settings.prefix });
    // Gauges named like counters (promtool refuses them); the same counts by type remain in
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of ["active_handles", "active_requests", "active_resources"]) {
      registry.removeSingleMetric(`${settings.prefix}nodejs_${name}_total`);
    }
  }
  return {
    contentType: registry.contentType,
    registry,
    middleware: metricsMiddleware(instruments),
    traffic,
    instruments,
    text: () => registry.metrics(),
  };
}
