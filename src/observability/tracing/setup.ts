import { hostname } from "node:os";
import {
  context,
  createContextKey,
  DiagLogLevel,
  diag,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
} from "@opentelemetry/api";
import type { NodeTracerProvider, Sampler, SpanProcessor } from "@opentelemetry/sdk-trace-node";
import { optionalDependency } from "../../util/optional.js";
import { LogLimiter } from "../log-limiter.js";
import type { Logger } from "../logger.js";
import type { TracingOptions } from "./options.js";
import type { TracingInstallation } from "./sdk-env.js";
import {
  type ExporterSetting,
  type SamplerSetting,
  type TracingSettings,
  tracingSettings,
} from "./settings.js";

/** What a broker tells the setup about itself. */
export interface TracingNodeInfo {
  /** The node's services: `service.name` is them joined with `,` unless one is set. */
  serviceNames: readonly string[];
  logger: Logger;
  /** The node's ID, exported as `service.instance.id` when given. */
  nodeID?: string;
}

/** The SDK installed for the whole process. */
interface Sdk {
  provider: NodeTracerProvider;
  /** What `register()` set globally (and the last release removes): not what the app had set. */
  ownsContext: boolean;
  ownsPropagation: boolean;
  ownsDiag: boolean;
}

/** The process's installation, and how many brokers hold it (counted before it is ready). */
interface Holding {
  ready: Promise<Sdk>;
  users: number;
}

let holding: Holding | undefined;
/** The shutdown of the last installation, which a new one waits for. */
let closing: Promise<void> = Promise.resolve();
let toldForeign = false;

const NOOP: TracingInstallation = { flush: async () => {}, release: async () => {} };

/**
 * Installs the OpenTelemetry SDK for this process, as `tracing` and the `OTEL_*` variables say
 * (see {@link tracingSettings}): a `NodeTracerProvider` with the exporter, sampler and resource
 * (`service.name`), W3C Trace Context propagation and the async context manager. The first broker
 * of a process installs it and later ones share it; the last `release()` shuts it down and
 * unregisters it, so a later start installs afresh. When the application registered a tracer
 * provider of its own, nothing is installed: its SDK gets the spans.
 *
 * Throws `INVALID_TRACING_CONFIG` for a bad setting and `MISSING_DEPENDENCY` (with the `npm
 * install` line) when an SDK package is not installed.
 *
 * @example
 * ```ts
 * const tracing = await installTracing({ exporter: "console" }, { serviceNames: ["orders"], logger });
 * // ... spans are exported ...
 * await tracing.release();
 * ```
 */
export async function installTracing(
  options: TracingOptions,
  info: TracingNodeInfo,
): Promise<TracingInstallation> {
  const settings = tracingSettings(options, info.serviceNames);
  // A shutdown in progress (perhaps begun while waiting for an earlier one) ends first.
  for (let last = closing; ; last = closing) {
    await last;
    if (last === closing) break;
  }
  if (holding === undefined) {
    if (foreignProvider()) {
      if (!toldForeign) {
        toldForeign = true;
        info.logger.info(
          "Tracing: the application registered an OpenTelemetry tracer provider; spans go to it",
        );
      }
      return NOOP;
    }
    if (settings.exporters.length === 0) return NOOP;
    const fresh: Holding = { ready: install(settings, info), users: 0 };
    holding = fresh;
    fresh.ready.catch(() => {
      if (holding === fresh) holding = undefined;
    });
  }
  const held = holding;
  held.users++;
  try {
    return handle(held, await held.ready, info.logger);
  } catch (err) {
    held.users--;
    throw err;
  }
}

/** Whether spans are recorded by a tracer provider that Flotilla did not install. */
function foreignProvider(): boolean {
  const probe = trace.getTracer("flotilla").startSpan("flotilla.probe", { root: true });
  return isSpanContextValid(probe.spanContext());
}

/** Whether a context manager is registered (the no-op one does not keep values). */
function hasContextManager(): boolean {
  const key = createContextKey("flotilla.probe");
  return (
    context.with(ROOT_CONTEXT.setValue(key, true), () => context.active().getValue(key)) === true
  );
}

// The SDK packages are optional peers, loaded when tracing is asked for.
const PURPOSE = "Tracing (the OpenTelemetry SDK that OTEL_TRACES_EXPORTER or `tracing` asks for)";
const loadNode = optionalDependency(
  "@opentelemetry/sdk-trace-node",
  PURPOSE,
  () => import("@opentelemetry/sdk-trace-node"),
);
const loadResources = optionalDependency(
  "@opentelemetry/resources",
  PURPOSE,
  () => import("@opentelemetry/resources"),
);
const loadOtlp = optionalDependency(
  "@opentelemetry/exporter-trace-otlp-http",
  "Tracing to OTLP (OTEL_TRACES_EXPORTER=otlp)",
  () => import("@opentelemetry/exporter-trace-otlp-http"),
);
const loadZipkin = optionalDependency(
  "@opentelemetry/exporter-zipkin",
  "Tracing to Zipkin (OTEL_TRACES_EXPORTER=zipkin)",
  () => import("@opentelemetry/exporter-zipkin"),
);

type SdkNode = typeof import("@opentelemetry/sdk-trace-node");

/** The provider the settings describe: resource, sampler, one span processor per exporter. */
async function createProvider(
  settings: TracingSettings,
  nodeID: string | undefined,
): Promise<NodeTracerProvider> {
  const sdk = await loadNode();
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } =
    await loadResources();
  const spanProcessors = await Promise.all(settings.exporters.map((e) => processorOf(sdk, e)));
  // `$OTEL_RESOURCE_ATTRIBUTES`, then Flotilla's own. No process or host detectors: they export
  // the command line (flags may hold secrets) with every batch.
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(
      resourceFromAttributes({
        "service.name": settings.serviceName,
        "host.name": hostname(),
        "process.pid": process.pid,
        ...(nodeID === undefined ? {} : { "service.instance.id": nodeID }),
      }),
    );
  return new sdk.NodeTracerProvider({
    resource,
    sampler: samplerOf(sdk, settings.sampler),
    spanProcessors,
  });
}

async function processorOf(sdk: SdkNode, exporter: ExporterSetting): Promise<SpanProcessor> {
  if (exporter.name === "console") {
    return new sdk.SimpleSpanProcessor(new sdk.ConsoleSpanExporter());
  }
  // BatchSpanProcessor reads OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, ... itself.
  if (exporter.name === "zipkin") {
    const { ZipkinExporter } = await loadZipkin();
    return new sdk.BatchSpanProcessor(new ZipkinExporter({ url: exporter.url }));
  }
  const { OTLPTraceExporter } = await loadOtlp();
  return new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: exporter.url }));
}

function samplerOf(sdk: SdkNode, setting: SamplerSetting): Sampler {
  const root =
    setting.root === "always_on"
      ? new sdk.AlwaysOnSampler()
      : setting.root === "always_off"
        ? new sdk.AlwaysOffSampler()
        : new sdk.TraceIdRatioBasedSampler(setting.ratio);
  return setting.parentBased ? new sdk.ParentBasedSampler({ root }) : root;
}

async function install(settings: TracingSettings, info: TracingNodeInfo): Promise<Sdk> {
  const provider = await createProvider(settings, info.nodeID);
  const ownsContext = !hasContextManager();
  const ownsPropagation = propagation.fields().length === 0;
  provider.register({
    ...(ownsContext ? {} : { contextManager: null }),
    ...(ownsPropagation ? {} : { propagator: null }),
  });
  // Export failures (a collector that is down) are reported by the SDK through `diag`.
  const limiter = new LogLimiter(info.logger, { interval: 60_000 });
  const report = (message: string) => {
    const text = reasonOf(message);
    limiter.warn(`otel:${text.slice(0, 60)}`, {}, `Tracing: the SDK reports: ${text}`);
  };
  const ownsDiag = diag.setLogger(
    { error: report, warn: report, info() {}, debug() {}, verbose() {} },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const where = settings.exporters.map((e) => (e.url ? `${e.name} at ${e.url}` : e.name));
  info.logger.info(
    {
      exporters: settings.exporters,
      serviceName: settings.serviceName,
      sampler: settings.sampler.name,
    },
    `Tracing: spans go to ${where.join(" and ")} as '${settings.serviceName}'`,
  );
  return { provider, ownsContext, ownsPropagation, ownsDiag };
}

/** The SDK reports a failed export as the error in JSON: its message is what to read. */
function reasonOf(message: string): string {
  try {
    const parsed = JSON.parse(message) as { message?: unknown };
    return typeof parsed.message === "string" ? parsed.message : message;
  } catch {
    return message;
  }
}

/** One broker's hold on the shared SDK. */
function handle(held: Holding, sdk: Sdk, logger: Logger): TracingInstallation {
  let released = false;
  const flush = async () => {
    await sdk.provider.forceFlush().catch((err: unknown) => {
      logger.warn({ err }, "Tracing: spans could not be exported");
    });
  };
  return {
    flush,
    async release() {
      if (released) return;
      released = true;
      held.users--;
      if (held.users > 0) return flush();
      if (holding === held) holding = undefined;
      closing = shutdown(sdk, logger);
      await closing;
    },
  };
}

async function shutdown(sdk: Sdk, logger: Logger): Promise<void> {
  try {
    await sdk.provider.shutdown();
  } catch (err) {
    logger.warn({ err }, "Tracing: spans could not be exported");
  }
  trace.disable();
  if (sdk.ownsContext) context.disable();
  if (sdk.ownsPropagation) propagation.disable();
  if (sdk.ownsDiag) diag.disable();
}
