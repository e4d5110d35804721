import { FlotillaError } from "../../errors/index.js";
import { type BackoffOptions, backoffDelay } from "../../middleware/resilience/backoff.js";
import type { EventDefinition } from "../../service/types.js";

/** Retry timing of durable handlers unless they set their own: 100 ms doubling to 10 s. */
export const DURABLE_BACKOFF: Readonly<BackoffOptions> = {
  delay: 100,
  maxDelay: 10_000,
  factor: 2,
};

/** Retries after the first failure, unless a handler sets `maxRetries`. */
export const DURABLE_MAX_RETRIES = 5;

/** Messages one instance of a durable handler takes at once, unless it sets `concurrency`. */
export const DURABLE_CONCURRENCY = 10;

/** What to do with a message after its handler ran. */
export type Outcome =
  | { readonly kind: "ack" }
  | { readonly kind: "retry"; readonly delay: number }
  | { readonly kind: "dead-letter"; readonly code: string; readonly message: string };

/**
 * The durable-delivery policy, in one place: a success is acked; a failure is retried with
 * backoff while attempts remain (`maxRetries` after the first); then it becomes a dead letter
 * carrying the last error's code and message, or is dropped (acked) with `deadLetter: false`.
 *
 * @example
 * ```ts
 * outcome({ maxRetries: 1 }, 1, new Error("down")); // { kind: "retry", delay: 0..100 }
 * outcome({ maxRetries: 1 }, 2, new Error("down")); // { kind: "dead-letter", code: "INTERNAL_ERROR", … }
 * ```
 */
export function outcome(
  def: Pick<EventDefinition<unknown>, "maxRetries" | "backoff" | "deadLetter">,
  attempt: number,
  error: unknown,
): Outcome {
  if (error === undefined) return { kind: "ack" };
  if (attempt <= (def.maxRetries ?? DURABLE_MAX_RETRIES)) {
    return { kind: "retry", delay: backoffDelay(attempt - 1, def.backoff ?? DURABLE_BACKOFF) };
  }
  if (def.deadLetter === false) return { kind: "ack" };
  return { kind: "dead-letter", ...describeError(error) };
}

/** The code and message a dead letter records for what a handler threw. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof FlotillaError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: "INTERNAL_ERROR", message: error.message };
  return { code: "INTERNAL_ERROR", message: String(error) };
}
