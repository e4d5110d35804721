import type { Redis } from "ioredis";
import type { Logger } from "../../observability/logger.js";
import { connectFailed } from "../errors.js";

/** Makes a connection (not connected yet) with the transporter's settings; `role` names it. */
export type ClientFactory = (role: string) => Promise<Redis>;

/**
 * Connects a new connection of durable events. Like the transporter's own, it fails fast while
 * down (no offline queue) and reconnects for ever; its errors are logged at debug level, since
 * the transporter already warns once per outage.
 *
 * @example
 * ```ts
 * const reader = await openConnection(factory, "reader", logger);
 * ```
 */
export async function openConnection(
  create: ClientFactory,
  role: string,
  logger: Logger,
): Promise<Redis> {
  const redis = await create(role);
  redis.on("error", (err: Error) => logger.debug({ err, role }, "Redis connection error"));
  try {
    await redis.connect();
  } catch (cause) {
    redis.disconnect();
    throw connectFailed("Redis", cause);
  }
  return redis;
}

/**
 * Resolves once `redis` is ready again, or ended for good, or `signal` aborts. A connection that
 * still says "ready" just failed a command: the close is on its way, so wait a moment first
 * rather than spin.
 */
export function whenReady(redis: Redis, signal: AbortSignal): Promise<void> {
  if (signal.aborted || redis.status === "end") return Promise.resolve();
  if (redis.status === "ready") return pause(50, signal);
  return new Promise((resolve) => {
    const done = () => {
      redis.off("ready", done);
      redis.off("end", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    redis.on("ready", done);
    redis.on("end", done);
    signal.addEventListener("abort", done);
  });
}

/** Waits `ms`, or less if `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

const corked = new WeakSet<Redis>();

/**
 * Holds the socket writes of `redis` until the current microtasks are done, so that a burst of
 * commands (publishes, acks of a batch) goes out in one write instead of one each; as the
 * transporter does for pub/sub.
 */
export function corkBurst(redis: Redis): void {
  if (corked.has(redis) || redis.status !== "ready") return;
  const { stream } = redis;
  corked.add(redis);
  stream.cork();
  queueMicrotask(() => {
    corked.delete(redis);
    stream.uncork();
  });
}
