import type { TracingOptions } from "./options.js";

/** The SDK Flotilla installed, as one broker holds it. */
export interface TracingInstallation {
  /** Exports the spans still buffered. */
  flush(): Promise<void>;
  /** This broker no longer needs it: flushed, and shut down when no broker of the process does. */
  release(): Promise<void>;
}

/**
 * Whether a broker with this `tracing` option installs the SDK: `true` or settings do, `false`
 * does not, and by default `$OTEL_TRACES_EXPORTER` decides (set and not `none`).
 *
 * @example
 * ```ts
 * wantsTracingSdk(undefined); // true when OTEL_TRACES_EXPORTER=otlp
 * ```
 */
export function wantsTracingSdk(
  option: boolean | TracingOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (option === false) return false;
  if (option === true) return true;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  if (option !== undefined) return option.exporter !== "none";
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  return exporter !== undefined && exporter !== "" && exporter !== "none";
}
