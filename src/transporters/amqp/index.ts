// The amqp:// transporter: RabbitMQ (AMQP 0-9-1) through `amqplib`, an optional peer dependency.
//
//   transporter.ts  the Transporter: lifecycle, reconnect with backoff, publish backpressure
//   session.ts      one connection: channels, exchange and queue declarations, consumers, acks
//   outbox.ts       publishing without round trips, and backpressure when amqplib's buffer fills
//   options.ts      options, URL parsing, defaults, queue names
import { FlotillaError } from "../../errors/index.js";
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

let loaded: Promise<AmqpLib> | undefined;

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
export async function loadAmqplib(importer?: () => Promise<AmqpLib>): Promise<AmqpLib> {
  // The default import is cached (and forgotten after a failure, so installing it later helps).
  let pending: Promise<AmqpLib>;
  if (importer !== undefined) pending = importer();
  else {
    loaded ??= import("amqplib");
    pending = loaded;
  }
  try {
    return await pending;
  } catch (cause) {
    if (importer === undefined) loaded = undefined;
    // Anything else (a broken install, say) is not fixed by `npm install`: pass it on as is.
    if ((cause as { code?: unknown } | undefined)?.code !== "ERR_MODULE_NOT_FOUND") throw cause;
    throw new FlotillaError(
      "The amqp:// transporter needs the 'amqplib' package, which is not installed. Run:\nnpm install amqplib",
      "MISSING_DEPENDENCY",
      500,
      { cause, data: { package: "amqplib" } },
    );
  }
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
