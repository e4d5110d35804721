import { FlotillaError } from "../../errors/index.js";
import type { CallOptions } from "../../service/call-types.js";
import type { CallHandler, Middleware } from "../hooks.js";
import { backoffDelay, type RetryOptions } from "./backoff.js";

export type { RetryOptions } from "./backoff.js";

/** What the retry middleware needs to know of an action. */
export type RetryPolicyOf = (action: string) => RetryOptions | false | undefined;

/**
 * Tries a call again after a retryable error (`error.retryable`: a lost node, a timeout, a full
 * queue...), with exponential backoff and jitter, only for idempotent actions or calls that ask
 * (`retries` in the call options), and never past the call's deadline. Each retry avoids the
 * nodes that already failed, so it goes to another instance when one exists.
 */
export function retryMiddleware(policyOf: RetryPolicyOf): Middleware {
  return {
    name: "retry",
    call(next) {
      return (name, params, opts) => {
        const asked = opts?.retries;
        const policy = asked !== undefined ? { ...policyOf(name), retries: asked } : policyOf(name);
        if (!policy || (policy.retries ?? 2) <= 0) return next(name, params, opts);
        return withRetries(next, name, params, opts, policy);
      };
    },
  };
}

async function withRetries(
  next: CallHandler,
  name: string,
  params: unknown,
  opts: CallOptions | undefined,
  policy: RetryOptions,
): Promise<unknown> {
  const retries = policy.retries ?? 2;
  const started = Date.now();
  const budget = opts?.timeout;
  const avoid: string[] = [...(opts?.avoidNodeIDs ?? [])];
  let lastRetryable: FlotillaError | undefined;
  for (let attempt = 0; ; attempt++) {
    const left = budget === undefined ? undefined : budget - (Date.now() - started);
    const tryOpts: CallOptions = { ...opts, avoidNodeIDs: avoid };
    if (left !== undefined) tryOpts.timeout = Math.max(1, left);
    try {
      return await next(name, params, tryOpts);
    } catch (error) {
      // The instance that failed may be gone from the registry by now; then its failure, not
      // "not found", is what the caller should see.
      if (
        lastRetryable !== undefined &&
        error instanceof FlotillaError &&
        error.code === "SERVICE_NOT_FOUND"
      ) {
        throw lastRetryable;
      }
      const retryable = error instanceof FlotillaError && error.retryable;
      if (!retryable || attempt >= retries) throw error;
      lastRetryable = error;
      if (error.nodeID !== undefined && !avoid.includes(error.nodeID)) avoid.push(error.nodeID);
      const wait = backoffDelay(attempt, policy);
      const remaining =
        budget === undefined ? Number.POSITIVE_INFINITY : budget - (Date.now() - started);
      const parentLeft = opts?.parentCtx?.remaining ?? Number.POSITIVE_INFINITY;
      if (Math.min(remaining, parentLeft) <= wait) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
