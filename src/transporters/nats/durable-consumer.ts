import type { Consumer, ConsumerConfig, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../observability/logger.js";
import type { DeadLetterInfo, DurableMessage, DurableSubscription } from "../durable.js";
import { type DurableNames, decodeHeader, HEADERS } from "./durable-names.js";
import {
  apiCode,
  CONSUMER_NOT_FOUND,
  type JetStreamLink,
  type ResolvedJetStreamOptions,
} from "./jetstream.js";

/**
 * A ceiling on the messages a whole group has out at once: in members' hands plus those waiting
 * out a retry delay (JetStream counts both). Each member bounds itself to its `concurrency`.
 */
export const MAX_ACK_PENDING = 10_000;

/** How long one pull waits on the server for messages before the next (the client's default is 30 s). */
const PULL_EXPIRES = 10_000;

/** After a failed dead-lettering, the message comes back after this long and is tried again. */
const DEAD_LETTER_RETRY = 1000;

/** What a member needs: where to read, what to call, and how to dead-letter. */
export interface GroupConsumerParams {
  readonly link: JetStreamLink;
  readonly names: DurableNames;
  readonly event: string;
  readonly group: string;
  readonly concurrency: number;
  readonly options: ResolvedJetStreamOptions;
  readonly logger: Logger;
  readonly handler: (message: DurableMessage) => void;
  /** Publishes `m` to the dead letters (resolves on the server's PubAck). */
  readonly deadLetter: (m: JsMsg, id: string, info: DeadLetterInfo) => Promise<void>;
  /** Makes the streams again (after they were deleted under us). */
  readonly ensureStreams: () => Promise<void>;
}

/**
 * Creates the group's durable consumer, or brings its settings up to date: explicit acks, every
 * message since the group first started, never given up by the server (the core dead-letters).
 */
async function ensureConsumer(p: GroupConsumerParams): Promise<void> {
  const { jsm, mod } = p.link;
  const name = p.names.consumer(p.event, p.group);
  // The settings a member may change: the last member to start sets them for the group.
  const settings = {
    ack_wait: p.options.ackWait * 1_000_000,
    max_ack_pending: MAX_ACK_PENDING,
    // A group whose members are all gone for this long is forgotten (pulls keep it active).
    inactive_threshold: p.options.maxAge * 1_000_000,
  };
  try {
    const { config } = await jsm.consumers.info(p.names.stream, name);
    const stale = (Object.keys(settings) as (keyof typeof settings)[]).some(
      (key) => config[key] !== settings[key],
    );
    if (stale) await jsm.consumers.update(p.names.stream, name, settings);
  } catch (err) {
    if (apiCode(err) !== CONSUMER_NOT_FOUND) throw err;
    const config: Partial<ConsumerConfig> = {
      durable_name: name,
      filter_subject: p.names.subject(p.event),
      ack_policy: mod.AckPolicy.Explicit,
      // A new group starts with the events emitted from now on, as a new queue would.
      deliver_policy: mod.DeliverPolicy.New,
      max_deliver: -1,
      ...settings,
    };
    // Two members starting at once both add it: the same config twice is no error.
    await jsm.consumers.add(p.names.stream, config);
  }
}

/**
 * One member of a consumer group: pulls no more messages than it has free slots (its
 * `concurrency`), keeps pull requests in flight so that a fast handler never waits for a round
 * trip, tells the server every third of `ack_wait` that messages in hand are still being worked
 * on, and hands each message to core with ack / retry (nak with delay) / dead-letter. A replayed
 * dead letter meant for another group is acked and skipped.
 *
 * @example
 * ```ts
 * const member = await GroupConsumer.start({ link, names, event: "orders.placed", group: "email",
 *   concurrency: 10, options, logger, handler: (m) => void m.ack(), deadLetter, ensureStreams });
 * await member.close();
 * ```
 */
export class GroupConsumer implements DurableSubscription {
  readonly #inHand = new Set<JsMsg>();
  readonly #pulls = new Set<ConsumerMessages>();
  /** Messages asked for and not yet received. */
  #outstanding = 0;
  #closed = false;
  #failures = 0;
  #progress: NodeJS.Timeout | undefined;
  /** Ends the waits of pulls that failed, when the member closes. */
  readonly #wakers = new Set<() => void>();

  private constructor(
    private readonly p: GroupConsumerParams,
    private readonly consumer: Consumer,
  ) {}

  /** Creates (or finds) the group's consumer and starts pulling. */
  static async start(p: GroupConsumerParams): Promise<GroupConsumer> {
    await ensureConsumer(p);
    const consumer = await p.link.js.consumers.get(
      p.names.stream,
      p.names.consumer(p.event, p.group),
    );
    const member = new GroupConsumer(p, consumer);
    member.#refill();
    return member;
  }

  /** Stops pulling. Messages in hand still finish and are acked (the broker waits for them). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#wakers) wake();
    await Promise.allSettled([...this.#pulls].map((pull) => pull.close()));
  }

  /** Asks for more once a quarter of the slots are free (or all are and nothing is on its way). */
  #refill(): void {
    // A connection closed under us (the node crashed or was killed) takes no more pulls.
    if (this.#closed || this.p.link.nc.isClosed() || this.p.link.nc.isDraining()) return;
    const { concurrency } = this.p;
    const free = concurrency - this.#inHand.size - this.#outstanding;
    if (free < Math.max(1, Math.floor(concurrency / 4))) return;
    this.#outstanding += free;
    void this.#pull(free);
  }

  async #pull(count: number): Promise<void> {
    let received = 0;
    try {
      const pull = await this.consumer.fetch({ max_messages: count, expires: PULL_EXPIRES });
      this.#pulls.add(pull);
      try {
        if (this.#closed) await pull.close();
        for await (const m of pull) {
          received += 1;
          // After a reconnect the client asks again for a pull's whole batch: more may come.
          if (received <= count) this.#outstanding -= 1;
          this.#take(m);
        }
      } finally {
        this.#pulls.delete(pull);
      }
      this.#failures = 0;
    } catch (err) {
      await this.#recover(err);
    } finally {
      this.#outstanding -= Math.max(0, count - received);
      this.#refill();
    }
  }

  /**
   * A pull failed (server gone or restarted, consumer or stream deleted): wait a little, and
   * make the stream and the consumer again should they be missing.
   */
  async #recover(err: unknown): Promise<void> {
    if (this.#closed || this.p.link.nc.isClosed()) return;
    this.#failures += 1;
    const fields = { err, event: this.p.event, group: this.p.group };
    if (this.#failures === 1) this.p.logger.warn(fields, "Durable consumer pull failed; retrying");
    else this.p.logger.debug(fields, "Durable consumer pull failed again");
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.min(250 * this.#failures, 5000));
      this.#wakers.add(wake);
    });
    if (this.#closed) return;
    try {
      await this.p.ensureStreams();
      await ensureConsumer(this.p);
    } catch (again) {
      this.p.logger.debug({ err: again }, "Could not make the durable consumer again yet");
    }
  }

  #take(m: JsMsg): void {
    const target = m.headers?.get(HEADERS.target);
    if (target && decodeHeader(target) !== this.p.group) {
      try {
        m.ack(); // a dead letter replayed to another group
      } catch {
        // Offline: it comes again after ack_wait, and is skipped then.
      }
      this.#refill();
      return;
    }
    this.#inHand.add(m);
    this.#progress ??= setInterval(() => this.#stillWorking(), this.p.options.ackWait / 3).unref();
    const header = m.headers?.get(HEADERS.id);
    // Only a message published by something else than Flotilla lacks the header.
    const id = header ? decodeHeader(header) : `${this.p.names.stream}:${m.info.streamSequence}`;
    const settle = async (work: () => void | Promise<void>): Promise<void> => {
      if (!this.#inHand.has(m)) return;
      try {
        await work();
      } finally {
        this.#inHand.delete(m);
        this.#refill();
      }
    };
    this.p.handler({
      id,
      data: m.data,
      attempt: m.info.deliveryCount,
      ack: () => settle(() => m.ack()),
      retry: (delay) => settle(() => m.nak(Math.max(1, Math.round(delay)))),
      deadLetter: (info) =>
        settle(async () => {
          try {
            await this.p.deadLetter(m, id, info);
          } catch (err) {
            try {
              m.nak(DEAD_LETTER_RETRY);
            } catch {
              // Offline: it comes back after ack_wait instead.
            }
            throw err;
          }
          m.ack();
        }),
    });
  }

  /** Keeps the messages in hand from being delivered again while their handlers run. */
  #stillWorking(): void {
    if (this.#inHand.size === 0 || this.p.link.nc.isClosed()) {
      clearInterval(this.#progress);
      this.#progress = undefined;
      return;
    }
    for (const m of this.#inHand) {
      try {
        m.working();
      } catch {
        // Offline: the message is delivered again after ack_wait, as for a member that died.
      }
    }
  }
}
