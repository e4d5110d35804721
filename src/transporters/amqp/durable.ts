import type { Channel, GetMessage } from "amqplib";
import { ConfigurationError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type {
  DeadLetter,
  DurableConsumeOptions,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "../durable.js";
import { nameTooLong, notConnected } from "../errors.js";
import { DurableConsumer } from "./durable-consumer.js";
import { CONFIRM_TIMEOUT, DurableLink } from "./durable-link.js";
import {
  type DurableNames,
  durableNames,
  durableProperties,
  queueTypeMismatch,
  readDeadLetter,
} from "./durable-queues.js";
import { MAX_NAME_BYTES, type QueueType } from "./options.js";
import type { AmqpSession } from "./session.js";

/** What durable streams need of their transporter. */
export interface DurableHost {
  /** The current session; `undefined` while disconnected. */
  session(): AmqpSession | undefined;
  logger(): Logger | undefined;
}

/** Settings of durable streams beyond their names. */
export interface AmqpDurableOptions {
  /** How long a publish waits for RabbitMQ's confirm, in ms. Default {@link CONFIRM_TIMEOUT}. */
  confirmTimeout?: number;
  /** The type of the group and dead-letter queues (the transporter's `queueType`). Default `classic`. */
  queueType?: QueueType;
}

/** A dead letter taken (unacked) from the dead-letter queue while it is scanned. */
interface Held {
  readonly msg: GetMessage;
  readonly letter: DeadLetter;
}

/** One scan of the dead-letter queue: its channel, and what it found there and removed. */
interface Scan {
  readonly link: DurableLink;
  readonly ch: Channel;
  /** Dead letters in the queue when the scan began. */
  ready: number;
  /** Dead letters the scan removed (acked) for good. */
  acked: number;
}

/** How long a scan waits, at most, for the dead letters it held to be back in the queue. */
const RETURN_WAIT = 2_000;

/**
 * Durable events on RabbitMQ (see docs/durable-amqp.md): events go to a durable direct exchange of
 * the namespace, routing key = stream; each (stream, group) has a durable queue bound to it, which
 * the group's members share; retries wait in delay queues that dead-letter back to the group's
 * queue; dead letters go to one durable queue of the namespace. Every publish waits for RabbitMQ's
 * confirm. After a reconnect the transporter calls {@link resume}, which declares everything again
 * and starts every consumer on the new session.
 *
 * @example
 * ```ts
 * const streams = transporter.durableStreams("shop"); // after connect()
 * await streams.consume("orders.placed", { group: "email", concurrency: 10 }, async (m) => {
 *   await send(m.data);
 *   await m.ack();
 * });
 * await streams.publish("orders.placed", randomUUID(), bytes); // resolves once confirmed
 * ```
 */
export class AmqpDurableStreams implements DurableStreams {
  readonly names: DurableNames;
  readonly #links = new WeakMap<AmqpSession, Promise<DurableLink>>();
  readonly #consumers = new Set<DurableConsumer>();
  /** The last session resume() was called with. */
  #resuming: AmqpSession | undefined;
  /** Dead-letter scans of this process, one at a time (a scan holds the letters it has read). */
  #scanning: Promise<unknown> = Promise.resolve();

  readonly queueType: QueueType;
  private readonly confirmTimeout: number;

  constructor(
    private readonly host: DurableHost,
    exchange: string,
    readonly namespace: string,
    { confirmTimeout = CONFIRM_TIMEOUT, queueType = "classic" }: AmqpDurableOptions = {},
  ) {
    this.queueType = queueType;
    this.confirmTimeout = confirmTimeout;
    this.names = durableNames(exchange, namespace, queueType);
  }

  /**
   * Publishes persistently to `stream` with `id` as the AMQP `messageId`; resolves once RabbitMQ
   * confirmed it. Rejects at once while disconnected (`TRANSPORTER_NOT_CONNECTED`, retryable), and
   * with `DURABLE_PUBLISH_FAILED` on a nack, a timeout, or when no group queue is bound to the
   * stream (RabbitMQ would have dropped it).
   */
  async publish(stream: string, id: string, data: Uint8Array): Promise<void> {
    checkStream(stream);
    const link = await this.#current();
    await link.publish(link.names.events, stream, toBuffer(data), durableProperties(id));
  }

  /**
   * Starts a member of `group` on `stream`. While disconnected it is recorded and started on
   * reconnect; a consumer the server refuses (a queue of that name declared with other
   * arguments) fails here.
   */
  async consume(
    stream: string,
    options: DurableConsumeOptions,
    handler: (message: DurableMessage) => void,
  ): Promise<DurableSubscription> {
    checkStream(stream);
    const { group, concurrency } = options;
    const consumer = new DurableConsumer(stream, group, concurrency, handler, this.host.logger);
    this.#consumers.add(consumer);
    const session = this.#session();
    if (session !== undefined) {
      try {
        await consumer.start(await this.#link(session));
      } catch (cause) {
        if (!session.closed) {
          this.#consumers.delete(consumer);
          // A queue of another type than asked for: say so, with the way out.
          const mismatch = queueTypeMismatch(cause, this.queueType);
          if (mismatch instanceof ConfigurationError) throw mismatch;
          // Not the connection: a declaration the server will not take (INTERNAL_ERROR).
          throw new Error(
            `RabbitMQ refused the durable consumer of '${stream}' for group '${group}': ${text(cause)}`,
            { cause },
          );
        }
        // Lost meanwhile: resume() starts it on the next session.
      }
    }
    return {
      close: async () => {
        this.#consumers.delete(consumer);
        await consumer.close();
      },
    };
  }

  /** The dead letters of the namespace, oldest first; read and put back, none is lost. */
  listDeadLetters(): Promise<DeadLetter[]> {
    return this.#scan(async (scan) => (await this.#take(scan, () => false)).map((h) => h.letter));
  }

  /**
   * Publishes the dead letter `id` to its group's queue only (declared again if it was deleted),
   * with the same message ID and a fresh attempt count, then removes it from the dead letters.
   * `false` when there is no such dead letter.
   */
  replayDeadLetter(id: string): Promise<boolean> {
    return this.#scan(async (scan) => {
      const { link, ch } = scan;
      const held = await this.#take(scan, (letter) => letter.id === id);
      const hit = held.find((h) => h.letter.id === id);
      if (hit === undefined) return false;
      const queue = await link.groupQueue(hit.letter.stream, hit.letter.info.group);
      await link.publish("", queue, hit.msg.content, durableProperties(id));
      ch.ack(hit.msg);
      scan.acked += 1;
      return true;
    });
  }

  /**
   * Called by the transporter on a new session before it becomes current: declares the
   * namespace's objects and starts every consumer on it. Throws if the session is lost meanwhile.
   */
  async resume(session: AmqpSession): Promise<void> {
    this.#resuming = session;
    const link = await this.#link(session);
    // Live iteration: a consumer added while this runs is started here too.
    for (const consumer of this.#consumers) {
      if (session.closed) break;
      await consumer.start(link).catch((err: unknown) => {
        if (session.closed) throw err;
        this.host
          .logger()
          ?.error(
            { err, stream: consumer.stream, group: consumer.group },
            "RabbitMQ refused a durable consumer",
          );
      });
    }
    if (session.closed) throw new Error("connection closed while resuming durable consumers");
  }

  #link(session: AmqpSession): Promise<DurableLink> {
    let link = this.#links.get(session);
    if (link === undefined) {
      // The dead-letter queue is declared here: one of another type is refused.
      const opening = DurableLink.open(session, this.names, this.confirmTimeout).catch(
        (err: unknown) => {
          throw queueTypeMismatch(err, this.queueType);
        },
      );
      link = opening;
      this.#links.set(session, opening);
      // A failed open is tried again by the next caller.
      opening.catch(() => {
        if (this.#links.get(session) === opening) this.#links.delete(session);
      });
    }
    return link;
  }

  /**
   * The session to start consumers on: the current one, or one being resumed (not current until
   * the transporter has finished with it; a consumer added just after its resume() looked at the
   * consumers would otherwise start on no session).
   */
  #session(): AmqpSession | undefined {
    const current = this.host.session();
    if (current !== undefined && !current.closed) return current;
    const resuming = this.#resuming;
    return resuming !== undefined && !resuming.closed ? resuming : undefined;
  }

  #current(): Promise<DurableLink> {
    const session = this.host.session();
    if (session === undefined || session.closed) {
      return Promise.reject(
        notConnected("amqp", {
          why: "is not connected: durable messages cannot be stored",
        }),
      );
    }
    return this.#link(session);
  }

  /**
   * Runs `fn` on a channel of its own, after any other scan of this process has finished; every
   * dead letter `fn` took and did not ack goes back to the queue, in its place, at the end.
   */
  #scan<T>(fn: (scan: Scan) => Promise<T>): Promise<T> {
    const run = this.#scanning.then(async () => {
      const link = await this.#current();
      const ch = await link.session.openChannel(false);
      const scan: Scan = { link, ch, ready: 0, acked: 0 };
      try {
        return await fn(scan);
      } finally {
        try {
          ch.nackAll(true);
          await this.#returned(scan);
        } catch {
          // The channel is gone: RabbitMQ requeued what it held.
        }
        await ch.close().catch(() => undefined);
      }
    });
    this.#scanning = run.catch(() => undefined);
    return run;
  }

  /**
   * Takes (unacked) the dead letters that are in the queue now, oldest first, until `stop`
   * accepts one. Ones dead-lettered meanwhile are left for the next scan.
   */
  async #take(scan: Scan, stop: (letter: DeadLetter) => boolean): Promise<Held[]> {
    const { ch } = scan;
    const { messageCount } = await ch.assertQueue(this.names.deadLetters, this.names.queueOptions);
    scan.ready = messageCount;
    const held: Held[] = [];
    for (let i = 0; i < messageCount; i++) {
      const msg = await ch.get(this.names.deadLetters, { noAck: false });
      if (msg === false) break;
      const letter = readDeadLetter(msg);
      held.push({ msg, letter });
      if (stop(letter)) break;
    }
    return held;
  }

  /**
   * Waits until the dead letters a scan held are back in the queue. A quorum queue applies the
   * return through its Raft log, after the channel's nack: a scan right after this one (a replay
   * after a list) could otherwise find the queue without them. A classic queue has them back
   * at once, and one look confirms it. Bounded: another process's scan may hold some meanwhile.
   */
  async #returned({ ch, ready, acked }: Scan): Promise<void> {
    const expected = ready - acked;
    const deadline = Date.now() + RETURN_WAIT;
    while (expected > 0 && Date.now() < deadline) {
      const { messageCount } = await ch.checkQueue(this.names.deadLetters);
      if (messageCount >= expected) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

function checkStream(stream: string): void {
  // The stream is the routing key, which AMQP limits to 255 bytes.
  if (Buffer.byteLength(stream) > MAX_NAME_BYTES)
    throw nameTooLong("event", stream, MAX_NAME_BYTES);
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function text(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
