import { ConfigurationError } from "../../errors/index.js";
import type { TraceExporterName, TracingOptions } from "./options.js";

/** An exporter Flotilla sets up, with the URL it sends to (none for `console`). */
export interface ExporterSetting {
  name: Exclude<TraceExporterName, "none">;
  url?: string;
}

/** How new traces are sampled: the root decision, and whether a parent's decision wins. */
export interface SamplerSetting {
  /** `$OTEL_TRACES_SAMPLER` spelling of it (`parentbased_traceidratio`, ...), for the logs. */
  name: string;
  root: "always_on" | "always_off" | "ratio";
  /** Share of traces kept when `root` is `ratio`. */
  ratio: number;
  parentBased: boolean;
}

/** Every setting of the SDK, resolved from the options and the environment. */
export interface TracingSettings {
  /** Where spans go; empty for `none`. */
  exporters: ExporterSetting[];
  serviceName: string;
  sampler: SamplerSetting;
}

const EXPORTERS = ["otlp", "zipkin", "console", "none"] as const;
const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
const OTLP_DEFAULT = "http://localhost:4318/v1/traces";
const ZIPKIN_DEFAULT = "http://localhost:9411/api/v2/spans";

/**
 * Resolves the tracing settings: each option, else its standard `OTEL_*` variable, else the
 * default. Throws `ConfigurationError` with code `INVALID_TRACING_CONFIG` (naming the option or
 * variable) for an unknown exporter or sampler, a ratio outside 0..1, or an endpoint that is not
 * an http(s) URL.
 *
 * @example
 * ```ts
 * tracingSettings({}, ["orders"], { OTEL_TRACES_EXPORTER: "zipkin" });
 * // { exporters: [{ name: "zipkin", url: "http://localhost:9411/api/v2/spans" }],
 * //   serviceName: "orders", sampler: { name: "parentbased_always_on", ... } }
 * ```
 */
export function tracingSettings(
  options: TracingOptions,
  serviceNames: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): TracingSettings {
  return {
    exporters: exportersOf(options, env),
    serviceName: serviceNameOf(options, serviceNames, env),
    sampler: samplerOf(options, env),
  };
}

function exportersOf(options: TracingOptions, env: NodeJS.ProcessEnv): ExporterSetting[] {
  const fromOption = options.exporter !== undefined;
  const source = fromOption ? "tracing.exporter" : "OTEL_TRACES_EXPORTER";
  const names = fromOption
    ? [options.exporter as string]
    : (env.OTEL_TRACES_EXPORTER ?? "")
        .split(",")
        .map((n) => n.trim().toLowerCase())
        .filter((n) => n !== "");
  if (names.length === 0) names.push("otlp");
  for (const name of names) {
    if (!(EXPORTERS as readonly string[]).includes(name)) {
      throw invalid(source, name, `is not one of ${EXPORTERS.join(", ")}`);
    }
  }
  if (names.includes("none")) return [];
  return [...new Set(names as ExporterSetting["name"][])].map((name) => {
    if (name === "console") return { name };
    return { name, url: urlOf(name, options.endpoint, env) };
  });
}

/** The collector's URL: the option, else the standard variables, else the local default. */
function urlOf(name: "otlp" | "zipkin", endpoint: string | undefined, env: NodeJS.ProcessEnv) {
  const set = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);
  let source: string;
  let url: string;
  if (name === "zipkin") {
    const fromEnv = set(env.OTEL_EXPORTER_ZIPKIN_ENDPOINT);
    source = endpoint !== undefined ? "tracing.endpoint" : "OTEL_EXPORTER_ZIPKIN_ENDPOINT";
    url = endpoint ?? fromEnv ?? ZIPKIN_DEFAULT;
  } else if (endpoint !== undefined) {
    source = "tracing.endpoint";
    url = endpoint.endsWith("/v1/traces") ? endpoint : tracesPath(endpoint);
  } else if (set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) !== undefined) {
    source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    url = set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) as string;
  } else {
    source = "OTEL_EXPORTER_OTLP_ENDPOINT";
    const base = set(env.OTEL_EXPORTER_OTLP_ENDPOINT);
    url = base === undefined ? OTLP_DEFAULT : tracesPath(base);
  }
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== "http:" && protocol !== "https:") {
    throw invalid(source, url, "is not an http:// or https:// URL");
  }
  return url;
}

/** A base URL with the OTLP traces path appended (`http://host:4318` → `.../v1/traces`). */
function tracesPath(base: string): string {
  return `${base.replace(/\/+$/, "")}/v1/traces`;
}

function serviceNameOf(
  options: TracingOptions,
  serviceNames: readonly string[],
  env: NodeJS.ProcessEnv,
): string {
  if (options.serviceName?.trim()) return options.serviceName.trim();
  if (env.OTEL_SERVICE_NAME?.trim()) return env.OTEL_SERVICE_NAME.trim();
  const own = serviceNames.filter((name) => !name.startsWith("$"));
  return own.length > 0 ? own.join(",") : "flotilla";
}

function samplerOf(options: TracingOptions, env: NodeJS.ProcessEnv): SamplerSetting {
  if (options.sampleRatio !== undefined) {
    const ratio = checkRatio("tracing.sampleRatio", options.sampleRatio);
    return { name: "parentbased_traceidratio", root: "ratio", ratio, parentBased: true };
  }
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || "parentbased_always_on";
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    throw invalid("OTEL_TRACES_SAMPLER", name, `is not one of ${SAMPLERS.join(", ")}`);
  }
  const parentBased = name.startsWith("parentbased_");
  const root = name.replace("parentbased_", "");
  if (root !== "traceidratio") {
    return { name, root: root as "always_on" | "always_off", ratio: 1, parentBased };
  }
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  const ratio = arg ? checkRatio("OTEL_TRACES_SAMPLER_ARG", Number(arg), arg) : 1;
  return { name, root: "ratio", ratio, parentBased };
}

function checkRatio(source: string, ratio: number, raw: unknown = ratio): number {
  if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw invalid(source, raw, "is not a number from 0 to 1");
  }
  return ratio;
}

function invalid(setting: string, value: unknown, problem: string): ConfigurationError {
  const shown = typeof value === "string" ? `'${value}'` : String(value);
  return new ConfigurationError(
    `Tracing: ${setting} ${shown} ${problem}.`,
    "INVALID_TRACING_CONFIG",
    {
      data: { setting, value: typeof value === "string" ? value : String(value) },
    },
  );
}
