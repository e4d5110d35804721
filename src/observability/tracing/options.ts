/** Where spans go when Flotilla installs the OpenTelemetry SDK. */
export type TraceExporterName = "otlp" | "zipkin" | "console" | "none";

/**
 * Settings of the OpenTelemetry SDK that Flotilla installs for a process (`tracing` of
 * `new ServiceBroker`). Each one falls back to the standard `OTEL_*` variable, so one
 * environment variable (`OTEL_TRACES_EXPORTER=otlp`) turns tracing on for a whole deployment.
 */
export interface TracingOptions {
  /** Where spans go. Default `$OTEL_TRACES_EXPORTER`, else `"otlp"` when tracing is asked for. */
  exporter?: TraceExporterName;
  /**
   * The collector: OTLP/HTTP base URL (`http://127.0.0.1:4318`, spans go to `/v1/traces`) or the
   * Zipkin spans URL (`http://127.0.0.1:9411/api/v2/spans`). Default from
   * `$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `$OTEL_EXPORTER_OTLP_ENDPOINT` or
   * `$OTEL_EXPORTER_ZIPKIN_ENDPOINT`, else the exporter's standard local address.
   */
  endpoint?: string;
  /** `service.name` of the spans. Default `$OTEL_SERVICE_NAME`, else the node's services (`orders,email`). */
  serviceName?: string;
  /**
   * Share of new traces kept, 0 to 1. Sampling is parent-based: a call or event continues the
   * decision of the trace it belongs to, so a trace is kept or dropped whole. Default from
   * `$OTEL_TRACES_SAMPLER` / `$OTEL_TRACES_SAMPLER_ARG`, else 1.
   */
  sampleRatio?: number;
}
