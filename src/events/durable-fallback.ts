import { randomUUID } from "node:crypto";
import type { Context } from "../broker/context.js";
import { FlotillaError } from "../errors/index.js";
import type { Middleware } from "../middleware/hooks.js";
import { backoffDelay } from "../middleware/resilience/backoff.js";
import type { Logger } from "../observability/logger.js";
import type { LocalListener } from "../registry/local.js";
import type { Registry } from "../registry/registry.js";
import type { MemoryDeadLetters } from "./dead-letters.js";

/** Retry timing of durable handlers unless they set their own. */
export const DURABLE_BACKOFF = { delay: 100, maxDelay: 10_000, factor: 2 };

/**
 * Durable handlers on a transporter that cannot persist: a failed delivery is retried in this
 * process with backoff, up to `maxRetries`, then kept as a dead letter in memory. Deliveries that
 * come from a persistent stream (they carry an attempt number) pass straight through: there the
 * message broker redelivers.
 */
export function durableFallbackMiddleware(
  nodeID: string,
  deadLetters: MemoryDeadLetters,
  logger: Logger,
  redeliver: (listener: LocalListener, ctx: Context<unknown>) => void,
): Middleware {
  return {
    name: "durable-fallback",
    localEvent(next, listener) {
      const def = listener.definition;
      if (def.durable !== true) return next;
      const maxRetries = def.maxRetries ?? 5;
      const run = async (ctx: Context<unknown>): Promise<unknown> => {
        if (ctx.attempt !== undefined) return next(ctx);
        ctx.messageID ??= randomUUID();
        for (let attempt = 1; ; attempt++) {
          ctx.attempt = attempt;
          try {
            return await next(ctx);
          } catch (error) {
            if (attempt <= maxRetries) {
              await new Promise((resolve) =>
                setTimeout(resolve, backoffDelay(attempt - 1, def.backoff ?? DURABLE_BACKOFF)),
              );
              continue;
            }
            if (def.deadLetter !== false) {
              const { code, message } = describe(error);
              const info = {
                group: listener.group,
                code,
                message,
                attempts: attempt,
                failedAt: Date.now(),
                nodeID,
              };
              const params = ctx.params;
              const messageID = ctx.messageID;
              deadLetters.add(messageID, ctx.name, params, info, () => redeliver(listener, ctx));
              logger.warn(
                {
                  event: ctx.name,
                  group: listener.group,
                  messageID: ctx.messageID,
                  attempts: attempt,
                },
                "Event dead-lettered (in memory)",
              );
            }
            throw error;
          }
        }
      };
      return run;
    },
  };
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof FlotillaError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: "INTERNAL_ERROR", message: error.message };
  return { code: "INTERNAL_ERROR", message: String(error) };
}

/** Says once, at start, when durable handlers run on a transporter that cannot persist. */
export function warnIfDurableInMemory(registry: Registry, logger: Logger): void {
  const durable = registry.listeners.filter((l) => l.definition.durable === true);
  if (durable.length === 0) return;
  logger.warn(
    { events: [...new Set(durable.map((l) => l.event))] },
    "Durable event handlers run without a persistent transporter: retries and dead letters are kept in memory, and events do not survive a crash. Use amqp://, nats:// or redis:// to persist them.",
  );
}
