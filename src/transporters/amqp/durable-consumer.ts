import type { Channel, ConsumeMessage } from "amqplib";
import type { Logger } from "../../observability/logger.js";
import type { DeadLetterInfo, DurableMessage } from "../durable.js";
import { notConnected } from "../errors.js";
import type { DurableLink } from "./durable-link.js";
import {
  attemptOf,
  deadLetterHeaders,
  delayBucket,
  durableProperties,
  HEADER,
  messageIdOf,
} from "./durable-queues.js";

/** A retry copy or dead letter that could not be stored goes back to the queue after at most this. */
const REQUEUE_AFTER_MAX = 5_000;

/** One channel consuming the group's queue: a consumer lives on one per session. */
interface Member {
  readonly link: DurableLink;
  readonly ch: Channel;
  readonly queue: string;
  unwatch: () => void;
  tag: string | undefined;
  /** Delivered and not settled yet: the channel stays open for their acks after a cancel. */
  inHand: number;
  cancelled: boolean;
  closed: boolean;
}

/**
 * One member of a consumer group: consumes the group's durable queue (prefetch = concurrency,
 * manual acks) on a channel of its own, started again on each new session. `close` cancels the
 * consumer at once and closes its channel once the messages in hand are settled.
 */
export class DurableConsumer {
  #member: Member | undefined;
  /** The link being started on (or started), so a second start on it joins the first. */
  #starting: { link: DurableLink; done: Promise<void> } | undefined;
  #closed = false;

  constructor(
    readonly stream: string,
    readonly group: string,
    private readonly concurrency: number,
    private readonly handler: (message: DurableMessage) => void,
    private readonly logger: () => Logger | undefined,
  ) {}

  /**
   * Declares the group's queue, binds it to the stream and consumes it on `link`'s session. At
   * most once per link: `consume` and a reconnect's `resume` may both ask for the same one.
   */
  start(link: DurableLink): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#starting?.link === link) return this.#starting.done;
    const done = this.#start(link).catch((err: unknown) => {
      if (this.#starting?.link === link) this.#starting = undefined;
      throw err;
    });
    this.#starting = { link, done };
    return done;
  }

  async #start(link: DurableLink): Promise<void> {
    const queue = link.names.group(this.stream, this.group);
    const ch = await link.session.openChannel(false);
    const member: Member = {
      link,
      ch,
      queue,
      unwatch: () => undefined,
      tag: undefined,
      inHand: 0,
      cancelled: false,
      closed: false,
    };
    ch.on("close", () => {
      member.closed = true;
    });
    try {
      // Per consumer (global=false): this member holds at most `concurrency` unacked messages.
      await ch.prefetch(Math.max(1, Math.min(65_535, this.concurrency)), false);
      await ch.assertQueue(queue, link.names.queueOptions);
      await ch.bindQueue(queue, link.names.events, this.stream);
      const reply = await ch.consume(queue, (msg) => this.#deliver(member, msg), { noAck: false });
      member.tag = reply.consumerTag;
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw err;
    }
    // Watched only once consuming: a refused declaration closes the channel, not the session.
    member.unwatch = link.session.watch(ch, `durable queue '${queue}'`);
    this.#member = member;
    if (this.#closed) await this.#cancel(member);
  }

  /** Stops taking messages; those in hand can still be settled, then the channel closes. */
  async close(): Promise<void> {
    this.#closed = true;
    const member = this.#member;
    if (member !== undefined) await this.#cancel(member);
  }

  async #cancel(member: Member): Promise<void> {
    if (member.cancelled) return;
    member.cancelled = true;
    if (member.tag !== undefined && !member.closed) {
      await member.ch.cancel(member.tag).catch(() => undefined);
    }
    if (member.inHand === 0) release(member);
  }

  #deliver(member: Member, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The server cancelled the consumer (its queue was deleted): closing the watched channel
      // makes it a lost session, and the reconnect declares the queue again.
      void member.ch.close().catch(() => undefined);
      return;
    }
    member.inHand++;
    try {
      this.handler(new Delivery(this, member, msg, this.logger));
    } catch (err) {
      this.logger()?.error({ err, stream: this.stream }, "Durable handler threw on delivery");
    }
  }

  /** A delivery is settled (or given up on): closes a cancelled member's channel after its last. */
  settled(member: Member): void {
    member.inHand--;
    if (member.cancelled && member.inHand === 0) release(member);
  }
}

function release(member: Member): void {
  member.unwatch();
  if (!member.closed) void member.ch.close().catch(() => undefined);
}

/**
 * One delivery of a durable message. Settled once: `ack`; `retry` (a copy with the next attempt
 * number through a delay queue, confirmed, then the original acked); or `deadLetter` (a copy with
 * the reason into the dead-letter queue, confirmed, then the original acked). A copy that cannot
 * be stored leaves the original unacked, to go back to the queue shortly.
 */
class Delivery implements DurableMessage {
  readonly id: string;
  readonly attempt: number;
  #settled = false;

  constructor(
    private readonly consumer: DurableConsumer,
    private readonly member: Member,
    private readonly msg: ConsumeMessage,
    private readonly logger: () => Logger | undefined,
  ) {
    this.id = messageIdOf(msg);
    this.attempt = attemptOf(msg);
  }

  get data(): Uint8Array {
    return this.msg.content;
  }

  async ack(): Promise<void> {
    this.#begin();
    this.#ack();
  }

  async retry(delay: number): Promise<void> {
    this.#begin();
    const { link, queue } = this.member;
    const bucket = delayBucket(delay);
    const headers = { [HEADER.attempt]: this.attempt + 1 };
    await this.#store(delay, async () => {
      if (bucket === 0) {
        await link.publish("", queue, this.msg.content, durableProperties(this.id, headers));
        return;
      }
      await link.delayQueue(bucket);
      const props = durableProperties(this.id, { ...headers, [HEADER.delay]: String(bucket) });
      await link.publish(link.names.retry, queue, this.msg.content, props);
    });
  }

  async deadLetter(info: DeadLetterInfo): Promise<void> {
    this.#begin();
    const { link } = this.member;
    const props = durableProperties(this.id, deadLetterHeaders(this.consumer.stream, info));
    await this.#store(1000, () =>
      link.publish("", link.names.deadLetters, this.msg.content, props),
    );
  }

  /** Stores a copy, then acks the original; or, failing that, requeues it after `delay`. */
  async #store(delay: number, copy: () => Promise<void>): Promise<void> {
    // Checked first: once the channel is gone RabbitMQ redelivers the original, and a copy on top
    // would be a duplicate.
    this.#checkOpen();
    try {
      await copy();
    } catch (err) {
      const timer = setTimeout(() => this.#nack(), Math.min(Math.max(delay, 0), REQUEUE_AFTER_MAX));
      timer.unref();
      throw err;
    }
    this.#ack();
  }

  #begin(): void {
    if (this.#settled) throw new Error(`Durable message '${this.id}' was already settled.`);
    this.#settled = true;
  }

  #checkOpen(): void {
    if (!this.member.closed) return;
    this.consumer.settled(this.member);
    throw notConnected("amqp", {
      why: `lost the channel of durable message '${this.id}' before it was settled; RabbitMQ delivers it again`,
    });
  }

  #ack(): void {
    this.#checkOpen();
    try {
      this.member.ch.ack(this.msg);
    } catch (err) {
      throw notConnected("amqp", {
        why: `could not ack durable message '${this.id}'; RabbitMQ delivers it again`,
        cause: err,
      });
    } finally {
      this.consumer.settled(this.member);
    }
  }

  #nack(): void {
    try {
      if (!this.member.closed) this.member.ch.nack(this.msg, false, true);
    } catch (err) {
      this.logger()?.debug({ err, messageID: this.id }, "could not requeue a durable message");
    } finally {
      this.consumer.settled(this.member);
    }
  }
}
