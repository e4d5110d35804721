// The redis transporter: Redis pub/sub through ioredis, one connection to publish, one to subscribe.
//
//   transporter.ts  the Transporter: connection state, resubscribing, fail-fast publish
//   options.ts      options, URL parsing, the ioredis settings
import { parseRedisUrl } from "./options.js";
import { loadRedisClient, RedisTransporter } from "./transporter.js";

export { clientOptions, parseRedisUrl, type RedisTransporterOptions } from "./options.js";
export { loadRedisClient, RedisTransporter } from "./transporter.js";

/**
 * The `redis://` factory used by `resolveTransporter`. Loads `ioredis` first, so a missing
 * package is reported when the broker is made, with the `npm install` line.
 *
 * @example
 * ```ts
 * const t = await redisTransporterFromUrl(new URL("redis://127.0.0.1:6379"));
 * ```
 */
export async function redisTransporterFromUrl(url: URL): Promise<RedisTransporter> {
  const options = parseRedisUrl(url);
  await loadRedisClient();
  return new RedisTransporter(options);
}
