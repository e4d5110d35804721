// Names, headers and delay buckets of durable events on RabbitMQ: pure functions, so the layout
// of queues and exchanges can be read (and tested) in one place. See docs/durable-amqp.md.
import { createHash } from "node:crypto";
import type { ConsumeMessage, GetMessage, Options } from "amqplib";
import { ConfigurationError } from "../../errors/index.js";
import type { DeadLetter, DeadLetterInfo } from "../durable.js";
import { MAX_NAME_BYTES, type QueueType } from "./options.js";

/** Headers Flotilla sets on durable messages. */
export const HEADER = {
  /** The attempt number of the next delivery (absent: 1). */
  attempt: "x-flotilla-attempt",
  /**
   * The delay bucket of a retry copy: routes it to that bucket's queue (headers exchange). Not
   * `x-` like the others: a headers exchange ignores `x-` headers when matching, and every delay
   * queue would get every copy.
   */
  delay: "flotilla-delay",
  stream: "x-flotilla-stream",
  group: "x-flotilla-group",
  code: "x-flotilla-code",
  error: "x-flotilla-error",
  attempts: "x-flotilla-attempts",
  failedAt: "x-flotilla-failed-at",
  node: "x-flotilla-node",
} as const;

/** Every RabbitMQ object of one namespace's durable events. */
export interface DurableNames {
  /** Direct exchange events are published to, routing key = stream (event name). */
  readonly events: string;
  /** Headers exchange of retry copies, routed on {@link HEADER.delay} to a delay queue. */
  readonly retry: string;
  /** The one dead-letter queue of the namespace (published to through the default exchange). */
  readonly deadLetters: string;
  /** The durable queue of one group on one stream. */
  group(stream: string, group: string): string;
  /** The queue holding retry copies for `bucket` ms before they dead-letter back to their group. */
  delay(bucket: number): string;
  /**
   * How group queues and the dead-letter queue are declared (durable, of the transporter's
   * `queueType`): every declaration of one of them must pass exactly these, since RabbitMQ refuses
   * to declare an existing queue with other arguments.
   */
  readonly queueOptions: Options.AssertQueue;
}

/**
 * Names the durable objects of `namespace` under the transporter's `exchange`. Stream, group and
 * namespace have `%` and `:` escaped, so `:` only ever separates parts and no two (stream, group)
 * pairs share a queue; a group queue has two parts after the namespace, the delay queues and the
 * dead-letter queue one, so they never collide either.
 *
 * @example
 * ```ts
 * const names = durableNames("flotilla", "shop");
 * names.group("orders.placed", "email"); // "flotilla:durable:shop:orders.placed:email"
 * names.delay(1024); // "flotilla:durable:shop:retry-1024ms"
 * durableNames("flotilla", "shop", "quorum").queueOptions.arguments; // { "x-queue-type": "quorum" }
 * ```
 */
export function durableNames(
  exchange: string,
  namespace: string,
  queueType: QueueType = "classic",
): DurableNames {
  const base = `${exchange}:durable:${escapePart(namespace || "default")}`;
  return {
    queueOptions: durableQueueOptions(queueType),
    events: fitName(base),
    retry: fitName(`${base}:retry`),
    deadLetters: fitName(`${base}:dead-letters`),
    group: (stream, group) => fitName(`${base}:${escapePart(stream)}:${escapePart(group)}`),
    delay: (bucket) => fitName(`${base}:retry-${bucket}ms`),
  };
}

/**
 * The declaration of a durable queue of `queueType`. A classic queue is declared without
 * `x-queue-type` (as before the option existed), so queues made by earlier versions still match.
 */
export function durableQueueOptions(queueType: QueueType): Options.AssertQueue {
  return queueType === "classic"
    ? { durable: true }
    : { durable: true, arguments: { "x-queue-type": queueType } };
}

/** RabbitMQ's refusal to declare a queue that exists with another `x-queue-type`. */
const TYPE_MISMATCH = /inequivalent arg 'x-queue-type' for queue '((?:[^']|'(?! in vhost))*)'/;

/**
 * Turns RabbitMQ's refusal to redeclare an existing queue with another type (a 406
 * PRECONDITION_FAILED naming `x-queue-type`) into a `ConfigurationError` that says what to do;
 * any other error comes back as it is. Switching a queue's type means moving its messages: no
 * client can do that by declaring it again.
 *
 * @example
 * ```ts
 * await ch.assertQueue(queue, names.queueOptions).catch((err) => {
 *   throw queueTypeMismatch(err, "quorum");
 * });
 * ```
 */
export function queueTypeMismatch(err: unknown, queueType: QueueType): unknown {
  const text = err instanceof Error ? err.message : String(err);
  const queue = TYPE_MISMATCH.exec(text)?.[1];
  if (queue === undefined) return err;
  return new ConfigurationError(
    `RabbitMQ queue '${queue}' exists with another type than queueType=${queueType}: a queue keeps the type it was made with. ` +
      "Drain and delete it (and the other durable queues of the namespace) to switch, or use a fresh namespace, or keep its type.",
    "INVALID_TRANSPORTER_URL",
    { cause: err, data: { queue, queueType } },
  );
}

/** Longest delay a retry waits (RabbitMQ's TTL limit is 2^32-1 ms; this is ~24.8 days). */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * The delay queue a retry after `delay` ms goes to: delays round to half-octave steps (1, 2, 3, 4,
 * 6, 8, 11, 16, 23, 32, ... ms), at most 19% off, so a handful of queues with a fixed TTL serve
 * every delay, in order, with no message waiting behind a longer one. `0` means no wait at all.
 *
 * @example
 * ```ts
 * delayBucket(100); // 91
 * delayBucket(0); // 0
 * ```
 */
export function delayBucket(delay: number): number {
  if (!(delay >= 0.5)) return 0;
  const capped = Math.min(delay, MAX_DELAY);
  return Math.min(MAX_DELAY, Math.round(2 ** (Math.round(Math.log2(capped) * 2) / 2)));
}

/**
 * The delivery attempt of a message: the attempt header of its copy (1 on the first publish),
 * plus one when RabbitMQ redelivers it after a consumer died holding it (its `redelivered` flag;
 * RabbitMQ keeps a flag, not a count, so several such crashes in a row count once).
 */
export function attemptOf(msg: ConsumeMessage): number {
  const raw = Number(msg.properties.headers?.[HEADER.attempt] ?? 1);
  const base = Number.isInteger(raw) && raw >= 1 ? raw : 1;
  return base + (msg.fields.redelivered ? 1 : 0);
}

/**
 * The message ID: the AMQP `messageId` the publisher set, or, for a message published without
 * one by something else, a hash of its content (stable across redeliveries all the same).
 */
export function messageIdOf(msg: { content: Buffer; properties: { messageId?: unknown } }): string {
  const id = msg.properties.messageId;
  if (typeof id === "string" && id !== "") return id;
  return `sha1-${createHash("sha1").update(msg.content).digest("hex")}`;
}

/** Publish properties of a durable message: its ID is required. */
export type DurableProperties = Options.Publish & { messageId: string };

/**
 * Properties of every durable message: persistent (delivery mode 2), with its ID, and mandatory
 * (RabbitMQ returns it when no queue is bound, rather than dropping it silently).
 */
export function durableProperties(
  id: string,
  headers: Record<string, unknown> = {},
): DurableProperties {
  return { persistent: true, messageId: id, headers, mandatory: true };
}

/** The headers of a dead letter: where it came from and why it gave up. */
export function deadLetterHeaders(stream: string, info: DeadLetterInfo): Record<string, unknown> {
  return {
    [HEADER.stream]: stream,
    [HEADER.group]: info.group,
    [HEADER.code]: info.code,
    [HEADER.error]: info.message,
    [HEADER.attempts]: info.attempts,
    [HEADER.failedAt]: info.failedAt,
    [HEADER.node]: info.nodeID,
  };
}

/** Reads a dead letter back from the dead-letter queue. */
export function readDeadLetter(msg: GetMessage): DeadLetter {
  const h = msg.properties.headers ?? {};
  const text = (key: string) => (typeof h[key] === "string" ? (h[key] as string) : String(h[key]));
  return {
    id: messageIdOf(msg),
    stream: text(HEADER.stream),
    data: msg.content,
    info: {
      group: text(HEADER.group),
      code: text(HEADER.code),
      message: text(HEADER.error),
      attempts: Number(h[HEADER.attempts] ?? 0),
      failedAt: Number(h[HEADER.failedAt] ?? 0),
      nodeID: text(HEADER.node),
    },
  };
}

function escapePart(part: string): string {
  return part.replaceAll("%", "%25").replaceAll(":", "%3A");
}

/** Shortens a name past AMQP's 255-byte limit, keeping it unique with a hash of the whole. */
function fitName(name: string): string {
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 16);
  let head = name;
  // Cut by characters (not bytes), so no multi-byte character is split.
  while (Buffer.byteLength(head) > MAX_NAME_BYTES - 17) head = head.slice(0, -1);
  return `${head}~${hash}`;
}
