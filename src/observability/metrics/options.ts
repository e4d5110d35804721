/**
 * Settings of a broker's Prometheus metrics (`metrics` of `new ServiceBroker`). Every field is
 * optional; `metrics: true` takes all the defaults.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ metrics: { prefix: "shop_", processMetrics: false } });
 * ```
 */
export interface MetricsOptions {
  /** Put before every metric name. Default `"flotilla_"`. */
  prefix?: string;
  /** Node process metrics (CPU, memory, event loop lag, GC), named with the prefix. Default `true`. */
  processMetrics?: boolean;
  /** Upper bounds of the latency histograms' buckets, in seconds. Default {@link DEFAULT_BUCKETS}. */
  buckets?: number[];
}

/** Latency buckets unless a broker sets its own: 0.5 ms to 10 s, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** {@link MetricsOptions} with every default filled in. */
export interface ResolvedMetricsOptions {
  readonly prefix: string;
  readonly processMetrics: boolean;
  /** Sorted, finite, distinct. */
  readonly buckets: readonly number[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * The settings a broker runs its metrics with, or `undefined` when it has none: `false` turns
 * them off, `true` or settings on, and by default `$FLOTILLA_METRICS` (`1` or `true`) decides.
 * Throws `TypeError` for a prefix that is not a valid start of a metric name, or bad buckets.
 *
 * @example
 * ```ts
 * resolveMetricsOptions(undefined, { FLOTILLA_METRICS: "1" }); // { prefix: "flotilla_", ... }
 * resolveMetricsOptions(false); // undefined
 * ```
 */
export function resolveMetricsOptions(
  option: boolean | MetricsOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedMetricsOptions | undefined {
  if (option === false) return undefined;
  if (option === undefined && !metricsWanted(env)) return undefined;
  const settings = typeof option === "object" ? option : {};
  const prefix = settings.prefix ?? "flotilla_";
  if (prefix !== "" && !NAME.test(prefix)) {
    throw new TypeError(
      `metrics.prefix '${prefix}' cannot start a metric name (letters, digits, _ and :, not a digit first).`,
    );
  }
  const buckets = [...new Set(settings.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
  if (buckets.length === 0 || buckets.some((b) => !Number.isFinite(b))) {
    throw new TypeError("metrics.buckets must be finite numbers of seconds, at least one.");
  }
  return { prefix, processMetrics: settings.processMetrics ?? true, buckets };
}

/** Whether `$FLOTILLA_METRICS` asks for metrics (`1` or `true`, any case). */
export function metricsWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.FLOTILLA_METRICS?.trim().toLowerCase();
  return value === "1" || value === "true";
}

/** Whether `$FLOTILLA_METRICS` refuses metrics (`0` or `false`, any case). */
export function metricsRefused(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.FLOTILLA_METRICS?.trim().toLowerCase();
  return value === "0" || value === "false";
}
