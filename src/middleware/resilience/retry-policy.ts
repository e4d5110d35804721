import type { Registry } from "../../registry/registry.js";
import type { RetryOptions, RetryPolicyOf } from "./retry.js";

/**
 * Which calls the retry middleware retries: idempotent actions (local definitions, or remote
 * ones whose node says so), with the action's own settings over the broker's defaults.
 */
export function retryPolicyFrom(
  registry: Registry,
  defaults: RetryOptions | false | undefined,
): RetryPolicyOf {
  return (name) => {
    if (defaults === false) return false;
    const base = defaults ?? {};
    const local = registry.actions.get(name)?.definition;
    if (local !== undefined) {
      if (local.retry === false || local.idempotent !== true) return undefined;
      return { ...base, ...local.retry };
    }
    const remote = registry.remote.actionEndpoints(name)[0]?.descriptor;
    return remote?.idempotent === true ? base : undefined;
  };
}
