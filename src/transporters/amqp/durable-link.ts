import type { Channel, ConfirmChannel, Message } from "amqplib";
import { DurablePublishError } from "../../errors/index.js";
import { notConnected } from "../errors.js";
import type { DurableNames, DurableProperties } from "./durable-queues.js";
import { HEADER } from "./durable-queues.js";
import type { AmqpSession } from "./session.js";

/** A publish waiting for RabbitMQ's confirm. */
interface Unconfirmed {
  readonly id: string;
  /** RabbitMQ returned it (mandatory, no queue bound): it was not kept, whatever the confirm says. */
  returned: boolean;
}

/** How long a publish waits for its confirm before it is reported as failed. */
export const CONFIRM_TIMEOUT = 10_000;

/**
 * How long a declared delay queue is trusted to exist before it is declared again. Delay queues
 * expire after a minute (plus their TTL) without a declaration, so this must stay well below that.
 */
const REDECLARE_AFTER = 10_000;

/**
 * What durable events hold on one AMQP session: a confirm channel for every durable publish
 * (events, retry copies, dead letters, replays) and a channel for declarations, whose failure
 * (a queue declared elsewhere with other arguments) must not take the session down. Made again
 * on every new session; the confirm channel's unexpected close is a loss of the session.
 */
export class DurableLink {
  readonly #unconfirmed = new Map<string, Unconfirmed[]>();
  readonly #delays = new Map<number, number>();
  #declarer: Promise<Channel> | undefined;

  private constructor(
    readonly session: AmqpSession,
    private readonly confirm: ConfirmChannel,
    readonly names: DurableNames,
    private readonly confirmTimeout: number,
  ) {}

  /** Opens the channels and declares the namespace's exchanges and dead-letter queue. */
  static async open(
    session: AmqpSession,
    names: DurableNames,
    confirmTimeout = CONFIRM_TIMEOUT,
  ): Promise<DurableLink> {
    const ch = await session.openChannel(true);
    try {
      await ch.assertExchange(names.events, "direct", { durable: true });
      await ch.assertExchange(names.retry, "headers", { durable: true });
      await ch.assertQueue(names.deadLetters, names.queueOptions);
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw err;
    }
    const link = new DurableLink(session, ch, names, confirmTimeout);
    // A message returned as unroutable comes back before its confirm (AMQP guarantees the order).
    ch.on("return", (msg: Message) => link.#onReturn(msg));
    session.watch(ch, "durable publishes");
    return link;
  }

  /**
   * Publishes with `mandatory` and waits for the confirm. Rejects when RabbitMQ nacks it, returns
   * it (no queue is bound: nothing kept it), the channel closes first, or no confirm comes within
   * the timeout; a rejected message may still have been kept (a lost confirm), never the reverse.
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    props: DurableProperties,
  ): Promise<void> {
    if (this.session.closed) {
      return Promise.reject(notConnected("amqp", { why: "lost its connection" }));
    }
    const id = props.messageId;
    const entry: Unconfirmed = { id, returned: false };
    const list = this.#unconfirmed.get(id);
    if (list === undefined) this.#unconfirmed.set(id, [entry]);
    else list.push(entry);
    return new Promise<void>((resolve, reject) => {
      const done = (err: Error | undefined) => {
        clearTimeout(timer);
        this.#forget(entry);
        if (err !== undefined) reject(err);
        else if (entry.returned) reject(unroutable(exchange, routingKey, id));
        else resolve();
      };
      const timer = setTimeout(
        () => done(failed(`no confirm from RabbitMQ within ${this.confirmTimeout} ms`, id)),
        this.confirmTimeout,
      );
      try {
        // A full write buffer only means the message waits in memory: callers bound what they
        // have in flight by awaiting their confirms.
        this.confirm.publish(exchange, routingKey, content, props, (err: unknown) => {
          if (err === null || err === undefined) return done(undefined);
          const text = err instanceof Error ? err.message : String(err);
          done(
            text === "channel closed"
              ? notConnected("amqp", { why: "lost its connection before the confirm", cause: err })
              : failed(`RabbitMQ refused it (${text})`, id, err),
          );
        });
      } catch (err) {
        done(notConnected("amqp", { why: "lost its connection", cause: err }));
      }
    });
  }

  /**
   * The delay queue of `bucket` ms, declared (at most every few seconds): a fixed TTL, after which
   * its messages dead-letter through the default exchange with their routing key, the name of
   * their group's queue. It expires a minute after its last declaration, when its last message
   * has long left.
   */
  async delayQueue(bucket: number): Promise<string> {
    const queue = this.names.delay(bucket);
    const declared = this.#delays.get(bucket);
    if (declared !== undefined && Date.now() - declared < REDECLARE_AFTER) return queue;
    await this.declare(async (ch) => {
      await ch.assertQueue(queue, {
        durable: true,
        arguments: {
          "x-message-ttl": bucket,
          "x-dead-letter-exchange": "",
          "x-expires": bucket + 60_000,
        },
      });
      await ch.bindQueue(queue, this.names.retry, "", {
        "x-match": "all",
        [HEADER.delay]: String(bucket),
      });
    });
    this.#delays.set(bucket, Date.now());
    return queue;
  }

  /** The durable queue of `group` on `stream`, declared and bound to the events exchange. */
  async groupQueue(stream: string, group: string): Promise<string> {
    const queue = this.names.group(stream, group);
    await this.declare(async (ch) => {
      await ch.assertQueue(queue, this.names.queueOptions);
      await ch.bindQueue(queue, this.names.events, stream);
    });
    return queue;
  }

  /** Runs declarations on a channel of their own, opened again after one failed. */
  async declare(fn: (ch: Channel) => Promise<void>): Promise<void> {
    this.#declarer ??= this.session.openChannel(false);
    const pending = this.#declarer;
    const ch = await pending.catch((err: unknown) => {
      if (this.#declarer === pending) this.#declarer = undefined;
      throw err;
    });
    try {
      await fn(ch);
    } catch (err) {
      // A refused declaration closed the channel (AMQP channel error): open a new one next time.
      if (this.#declarer === pending) this.#declarer = undefined;
      throw err;
    }
  }

  #onReturn(msg: Message): void {
    const id = msg.properties.messageId;
    const entry =
      typeof id === "string" ? this.#unconfirmed.get(id)?.find((e) => !e.returned) : undefined;
    if (entry !== undefined) entry.returned = true;
  }

  #forget(entry: Unconfirmed): void {
    const list = this.#unconfirmed.get(entry.id);
    if (list === undefined) return;
    const at = list.indexOf(entry);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.#unconfirmed.delete(entry.id);
  }
}

function failed(reason: string, id: string, cause?: unknown): DurablePublishError {
  return new DurablePublishError(`RabbitMQ did not confirm durable message '${id}': ${reason}.`, {
    cause,
    data: { messageID: id, reason },
  });
}

function unroutable(exchange: string, routingKey: string, id: string): DurablePublishError {
  const where = exchange === "" ? `queue '${routingKey}'` : `'${routingKey}' on '${exchange}'`;
  return new DurablePublishError(
    `RabbitMQ kept no copy of durable message '${id}': no queue is bound for ${where} (no consumer group of this event has started yet).`,
    { data: { messageID: id, reason: "unroutable", exchange, routingKey } },
  );
}
