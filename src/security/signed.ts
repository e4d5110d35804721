import type { DurableMessage, DurableStreams } from "../transporters/durable.js";
import type {
  ClusterAuth,
  MessageHandler,
  PublishOptions,
  SubscribeOptions,
  Transporter,
  TransporterContext,
} from "../transporters/transporter.js";
import { MAC_BYTES } from "./auth.js";

/**
 * A signed message on a message broker:
 *
 * ```
 * u8   0xF1 (signed, version 1)
 * u8   length of the sender's nodeID (1..255 bytes of UTF-8)
 * ...  the sender's nodeID
 * 32   HMAC-SHA-256 (cluster key) over the nodeID and the packet
 * ...  the packet, as transit encoded it
 * ```
 */
const MAGIC = 0xf1;
/** Longest nodeID a signed message carries. */
const MAX_ID_BYTES = 255;

/** The signer's nodeID and the packet of a message whose signature holds, else why not. */
export type Opened = { from: string; packet: Uint8Array } | { refused: "unsigned" | "signature" };

/**
 * Signs `packet` as sent by `nodeID`.
 *
 * @example
 * ```ts
 * const message = seal(auth, "n1", packet);
 * open(auth, message); // { from: "n1", packet }
 * ```
 */
export function seal(auth: ClusterAuth, nodeID: string, packet: Uint8Array): Uint8Array {
  const id = Buffer.from(nodeID, "utf8");
  if (id.length < 1 || id.length > MAX_ID_BYTES) {
    throw new RangeError(`A signed message's nodeID must be 1-${MAX_ID_BYTES} bytes.`);
  }
  const out = Buffer.allocUnsafe(2 + id.length + MAC_BYTES + packet.length);
  out[0] = MAGIC;
  out[1] = id.length;
  id.copy(out, 2);
  auth.mac(id, packet).copy(out, 2 + id.length);
  out.set(packet, 2 + id.length + MAC_BYTES);
  return out;
}

/** Checks a message's signature before anything reads the packet inside. */
export function open(auth: ClusterAuth, data: Uint8Array): Opened {
  if (data.length < 2 || data[0] !== MAGIC) return { refused: "unsigned" };
  const idLength = data[1] ?? 0;
  const macAt = 2 + idLength;
  const packetAt = macAt + MAC_BYTES;
  if (idLength === 0 || data.length < packetAt) return { refused: "unsigned" };
  const id = data.subarray(2, macAt);
  const packet = data.subarray(packetAt);
  if (!auth.verify(data.subarray(macAt, packetAt), id, packet)) return { refused: "signature" };
  return { from: Buffer.from(id).toString("utf8"), packet };
}

/** One warning per kind of refusal per minute, with how many were dropped since the last one. */
export class RefusalLog {
  readonly #last = new Map<string, { at: number; dropped: number }>();

  constructor(
    private readonly logger: TransporterContext["logger"],
    private readonly interval = 60_000,
  ) {}

  refused(kind: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = Date.now();
    const entry = this.#last.get(kind);
    if (entry !== undefined && now - entry.at < this.interval) {
      entry.dropped += 1;
      return;
    }
    this.#last.set(kind, { at: now, dropped: 0 });
    this.logger.warn({ ...fields, droppedSinceLast: entry?.dropped ?? 0 }, message);
  }
}

const WHY = {
  unsigned: "Dropped an unsigned message: its sender does not have this cluster's secret",
  signature:
    "Dropped a message whose signature does not match: its sender has another secret, or it was altered",
} as const;

/**
 * A transporter whose every message is signed with the cluster key and checked on arrival,
 * before transit decodes it: for message brokers, where anyone with access to the broker could
 * publish. The verified signer is passed to transit as `from`, so a packet's `sender` is believed
 * only when it signed it. Durable streams are signed the same way. Everything else is the inner
 * transporter's.
 *
 * @example
 * ```ts
 * const t = signedTransporter(await resolveTransporter("nats://127.0.0.1:4222"), clusterAuth(secret, ""));
 * ```
 */
export function signedTransporter(inner: Transporter, auth: ClusterAuth): Transporter {
  let nodeID = "";
  let log: RefusalLog | undefined;
  const verified =
    (handler: MessageHandler): MessageHandler =>
    (topic, data) => {
      const opened = open(auth, data);
      if ("refused" in opened) {
        log?.refused(opened.refused, WHY[opened.refused], { topic });
        return;
      }
      return handler(topic, opened.packet, opened.from);
    };
  const signed: Transporter = {
    capabilities: inner.capabilities,
    async connect(context: TransporterContext) {
      nodeID = context.nodeID;
      log = new RefusalLog(context.logger);
      await inner.connect({ ...context, onMessage: verified(context.onMessage) });
    },
    disconnect: () => inner.disconnect(),
    subscribe: (topic: string, group?: string, options?: SubscribeOptions) =>
      inner.subscribe(topic, group, options),
    publish: (topic: string, data: Uint8Array, options?: PublishOptions) =>
      inner.publish(topic, seal(auth, nodeID, data), options),
  };
  if (inner.kill !== undefined) signed.kill = () => inner.kill?.() ?? Promise.resolve();
  if (inner.durableStreams !== undefined) {
    signed.durableStreams = (namespace) =>
      signedStreams(
        inner.durableStreams?.(namespace) as DurableStreams,
        auth,
        () => nodeID,
        () => log,
      );
  }
  return signed;
}

function signedStreams(
  inner: DurableStreams,
  auth: ClusterAuth,
  nodeID: () => string,
  log: () => RefusalLog | undefined,
): DurableStreams {
  const unwrap = (data: Uint8Array): Uint8Array | undefined => {
    const opened = open(auth, data);
    if ("packet" in opened) return opened.packet;
    log()?.refused(`durable:${opened.refused}`, WHY[opened.refused]);
    return undefined;
  };
  return {
    persistent: inner.persistent,
    publish: (stream, id, data) => inner.publish(stream, id, seal(auth, nodeID(), data)),
    consume: (stream, options, handler) =>
      inner.consume(stream, options, (message) => {
        const packet = unwrap(message.data);
        // A stranger's message is acknowledged, so it is neither run nor redelivered.
        if (packet === undefined) return void message.ack().catch(() => undefined);
        const opened: DurableMessage = {
          id: message.id,
          data: packet,
          attempt: message.attempt,
          ack: () => message.ack(),
          retry: (delay) => message.retry(delay),
          deadLetter: (info) => message.deadLetter(info),
        };
        handler(opened);
      }),
    listDeadLetters: async () =>
      (await inner.listDeadLetters()).map((letter) => ({
        ...letter,
        data: unwrap(letter.data) ?? letter.data,
      })),
    replayDeadLetter: (id) => inner.replayDeadLetter(id),
  };
}
