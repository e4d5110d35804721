// The amqp:// transporter: RabbitMQ (AMQP 0-9-1) through `amqplib`, an optional peer dependency.
//
//   transporter.ts  the Transporter: lifecycle, reconnect with backoff, publish backpressure
//   session.ts      one connection: channels, exchange and queue declarations, consumers, acks
//   outbox.ts       publishing without round trips, and backpressure when amqplib's buffer fills
//   options.ts      options, URL parsing, defaults, queue names
import { optionalDependency } from "../../util/optional.js";
import type { Transporter } from "../transporter.js";
import { parseAmqpUrl } from "./options.js";
import type { AmqpLib } from "./session.js";
import { AmqpTransporter } from "./transporter.js";

export {
  type AmqpHost,
  type AmqpOptions,
  groupQueueName,
  nodeQueueName,
  parseAmqpUrl,
  type ResolvedAmqpOptions,
  resolveAmqpOptions,
} from "./options.js";
export { type AmqpLib, AmqpSession, type Subscription } from "./session.js";
export { type AmqpPublishOptions, AmqpTransporter } from "./transporter.js";

const loadDefault = optionalDependency(
  "amqplib",
  "The amqp:// transporter",
  () => import("amqplib") as Promise<AmqpLib>,
);

/**
 * Loads `amqplib` on first use. When it is not installed, fails with `MISSING_DEPENDENCY` and
 * the line to run. `importer` is for tests.
 *
 * @example
 * ```ts
 * const lib = await loadAmqplib();
 * const t = new AmqpTransporter(lib, { prefetch: 16 });
 * ```
 */
export function loadAmqplib(importer?: () => Promise<AmqpLib>): Promise<AmqpLib> {
  return importer === undefined
    ? loadDefault()
    : optionalDependency("amqplib", "The amqp:// transporter", importer)();
}

/**
 * The `amqp://` factory used by `resolveTransporter`: loads `amqplib` (failing early when it is
 * missing) and reads the URL.
 *
 * @example
 * ```ts
 * const t = await amqpTransporterFromUrl(new URL("amqp://guest:guest@127.0.0.1:5672/?prefetch=16"));
 * ```
 */
export async function amqpTransporterFromUrl(url: URL): Promise<Transporter> {
  const options = parseAmqpUrl(url);
  return new AmqpTransporter(await loadAmqplib(), options);
}
