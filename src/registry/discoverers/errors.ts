import type { FlotillaErrorOptions } from "../../errors/errors.js";
import { ConfigurationError } from "../../errors/index.js";

/** The configuration problems of the `discovery` option. */
export type DiscoveryConfigCode = "INVALID_DISCOVERY_URL" | "UNKNOWN_DISCOVERER";

/**
 * A `ConfigurationError` about the `discovery` option: a URL with a bad option or prefix
 * (`INVALID_DISCOVERY_URL`), or a scheme no discoverer serves (`UNKNOWN_DISCOVERER`).
 *
 * @example
 * ```ts
 * throw discoveryError("Unknown etcd discovery option 'tll'.", "INVALID_DISCOVERY_URL");
 * ```
 */
export function discoveryError(
  message: string,
  code: DiscoveryConfigCode,
  options: FlotillaErrorOptions = {},
): ConfigurationError {
  return new ConfigurationError(message, code, options);
}
