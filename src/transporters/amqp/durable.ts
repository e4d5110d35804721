import type { Channel, GetMessage } from "amqplib";
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
  readDeadLetter,
} from "./durable-queues.js";
import { MAX_NAME_BYTES } from "./options.js";
import type { AmqpSession } from "./session.js";

/** What durable streams need of their transporter. */
export interface DurableHost {
  /** The current session; `undefined` while disconnected. */
  session(): AmqpSession | undefined;
  logger(): Logger | undefined;
}

/** A dead letter taken (unacked) from the dead-letter queue while it is scanned. */
interface Held {
  readonly msg: GetMessage;
  readonly letter: DeadLetter;
}

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

  constructor(
    private readonly host: DurableHost,
    exchange: string,
    readonly namespace: string,
    private readonly confirmTimeout = CONFIRM_TIMEOUT,
  ) {
    this.names = durableNames(exchange, namespace);
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
    return this.#scan(async (_link, ch) =>
      (await this.#take(ch, () => false)).map((h) => h.letter),
    );
  }

  /**
   * Publishes the dead letter `id` to its group's queue only (declared again if it was deleted),
   * with the same message ID and a fresh attempt count, then removes it from the dead letters.
   * `false` when there is no such dead letter.
   */
  replayDeadLetter(id: string): Promise<boolean> {
    return this.#scan(async (link, ch) => {
      const held = await this.#take(ch, (letter) => letter.id === id);
      const hit = held.find((h) => h.letter.id === id);
      if (hit === undefined) return false;
      const queue = await link.groupQueue(hit.letter.stream, hit.letter.info.group);
      await link.publish("", queue, hit.msg.content, durableProperties(id));
      ch.ack(hit.msg);
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
      const opening = DurableLink.open(session, this.names, this.confirmTimeout);
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
  #scan<T>(fn: (link: DurableLink, ch: Channel) => Promise<T>): Promise<T> {
    const run = this.#scanning.then(async () => {
      const link = await this.#current();
      const ch = await link.session.openChannel(false);
      try {
        return await fn(link, ch);
      } finally {
        try {
          ch.nackAll(true);
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
  async #take(ch: Channel, stop: (letter: DeadLetter) => boolean): Promise<Held[]> {
    const { messageCount } = await ch.assertQueue(this.names.deadLetters, { durable: true });
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
