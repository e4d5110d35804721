import type { Logger } from "../logger.js";
import type { TracingOptions } from "./options.js";
import type { TracingInstallation } from "./sdk-env.js";

/** Placeholder until the SDK setup lands (being written now). */
export async function installTracing(
  _options: TracingOptions,
  _info: { serviceNames: readonly string[]; logger: Logger },
): Promise<TracingInstallation> {
  throw new Error("not yet");
}
