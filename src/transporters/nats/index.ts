// The nats transporter: transit's topics as NATS subjects, on the `@nats-io/transport-node` client.
//
//   transporter.ts  the Transporter: connection state, subscribe (queue groups), publish
//   options.ts      options, URL parsing, defaults, topic → subject mapping
//   chunks.ts       messages over the server's max_payload, sent in parts and put together
//   load.ts         the lazy import of the optional client, with the install hint
import { loadNatsClient } from "./load.js";
import { parseNatsUrl } from "./options.js";
import { NatsTransporter } from "./transporter.js";

export { loadNatsClient, type NatsClient } from "./load.js";
export {
  type NatsOptions,
  natsSubject,
  parseNatsUrl,
  type ResolvedNatsOptions,
  resolveNatsOptions,
} from "./options.js";
export { NatsTransporter } from "./transporter.js";

/**
 * The `nats://` factory used by `resolveTransporter`. Loads the client first, so a missing
 * package is reported when the broker is made, with the `npm install` line.
 *
 * @example
 * ```ts
 * const t = await natsTransporterFromUrl(new URL("nats://127.0.0.1:4222"));
 * ```
 */
export async function natsTransporterFromUrl(url: URL): Promise<NatsTransporter> {
  const options = parseNatsUrl(url);
  await loadNatsClient();
  return new NatsTransporter(options);
}
