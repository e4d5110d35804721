import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import type { Logger } from "../../observability/logger.js";
import { optionalDependency } from "../../util/optional.js";

/**
 * The bridge's own AMQP connection: one confirm channel to publish on (requests, replies,
 * events; confirms tell an unroutable RPC request from a delivered one) and one channel per
 * consumer, so a queue declared with other flags than an existing one fails that consumer only.
 * It never reconnects: a lost connection is reported once and the bridge fails its pending calls.
 */

/** The part of `amqplib` the bridge uses. */
interface AmqpLib {
  connect(url: string, socketOptions?: unknown): Promise<ChannelModel>;
}

const loadAmqplib = optionalDependency(
  "amqplib",
  "The nameko bridge",
  () => import("amqplib") as Promise<AmqpLib>,
);

/** One queue to declare, bind and consume. */
export interface QueueSpec {
  name: string;
  exchange: string;
  bindings: readonly string[];
  /** Flags exactly as nameko declares the same queue, or RabbitMQ refuses the second one. */
  options: Options.AssertQueue;
  /** Unacknowledged messages this consumer takes at once (nameko's `max_workers`: 10). */
  prefetch: number;
}

/** A running consumer. */
export interface Consumer {
  readonly queue: string;
  /** Stops taking messages; those in hand may still be acked. */
  cancel(): Promise<void>;
}

/** Publish properties: AMQP's, plus whether to wait for a route (`mandatory`). */
export type PublishProps = Options.Publish;

/** Acknowledges `msg`; a channel that closed meanwhile has lost it anyway (RabbitMQ redelivers). */
export function ack(channel: Channel, msg: ConsumeMessage): void {
  try {
    channel.ack(msg);
  } catch {
    // The channel is gone, and with it the delivery.
  }
}

/** An AMQP connection for the nameko bridge. */
export class NamekoLink {
  readonly #exchanges = new Set<string>();
  /** Correlation IDs of mandatory messages RabbitMQ returned as unroutable. */
  readonly #returned = new Set<string>();
  #closing = false;

  private constructor(
    private readonly model: ChannelModel,
    private readonly pub: ConfirmChannel,
    private readonly logger: Logger,
  ) {}

  /** Connects to `url`; `lost` is called once if the connection fails later. */
  static async open(
    url: string,
    logger: Logger,
    lost: (err: unknown) => void,
  ): Promise<NamekoLink> {
    const lib = await loadAmqplib();
    const model = await lib.connect(url);
    const pub = await model.createConfirmChannel();
    const link = new NamekoLink(model, pub, logger);
    pub.on("return", (msg: ConsumeMessage) => {
      const id = msg.properties.correlationId;
      if (typeof id === "string") link.#returned.add(id);
    });
    let reported = false;
    const fail = (err: unknown) => {
      if (link.#closing || reported) return;
      reported = true;
      lost(err ?? new Error("AMQP connection closed"));
    };
    model.on("error", fail);
    model.on("close", fail);
    pub.on("error", fail);
    return link;
  }

  /** Declares a topic exchange as nameko does (durable, not auto-deleted), once per link. */
  async exchange(name: string): Promise<void> {
    if (this.#exchanges.has(name)) return;
    await this.pub.assertExchange(name, "topic", { durable: true, autoDelete: false });
    this.#exchanges.add(name);
  }

  /**
   * Publishes and waits for RabbitMQ's confirm. With `mandatory` and a `correlationId`, resolves
   * `false` when no queue was bound for the routing key (RabbitMQ returns the message before it
   * confirms it).
   */
  publish(exchange: string, key: string, body: Buffer, props: PublishProps): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pub.publish(exchange, key, body, props, (err) => {
        if (err !== null && err !== undefined) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const id = props.correlationId;
        const routed = !(props.mandatory === true && id !== undefined && this.#returned.delete(id));
        resolve(routed);
      });
    });
  }

  /** Declares and binds `spec`'s queue and consumes it; `handle` acks or rejects each message. */
  async consume(
    spec: QueueSpec,
    handle: (msg: ConsumeMessage, channel: Channel) => void,
  ): Promise<Consumer> {
    const channel = await this.model.createChannel();
    channel.on("error", (err: unknown) => {
      if (!this.#closing) this.logger.error({ err, queue: spec.name }, "nameko consumer failed");
    });
    await channel.assertExchange(spec.exchange, "topic", { durable: true, autoDelete: false });
    const { queue } = await channel.assertQueue(spec.name, spec.options);
    for (const key of spec.bindings) await channel.bindQueue(queue, spec.exchange, key);
    await channel.prefetch(spec.prefetch);
    const { consumerTag } = await channel.consume(queue, (msg) => {
      if (msg !== null) handle(msg, channel);
    });
    return {
      queue,
      cancel: async () => {
        await channel.cancel(consumerTag).catch(() => undefined);
      },
    };
  }

  /** Closes the connection (and every channel with it). */
  async close(): Promise<void> {
    this.#closing = true;
    await this.model.close().catch(() => undefined);
  }
}
