/** Why a message was dead-lettered, attached to it. */
export interface DeadLetterInfo {
  /** The consumer group whose handler gave up. */
  group: string;
  /** The last error's code and message. */
  code: string;
  message: string;
  /** How many times the handler ran. */
  attempts: number;
  /** When it gave up (epoch ms). */
  failedAt: number;
  /** The node whose handler gave up. */
  nodeID: string;
}

/** A dead-lettered message. */
export interface DeadLetter {
  /** The message ID (stable across redeliveries and replays). */
  id: string;
  /** The stream (event) it came from. */
  stream: string;
  /** The encoded event packet. */
  data: Uint8Array;
  info: DeadLetterInfo;
}

/** One delivery of a durable message to a consumer group member. */
export interface DurableMessage {
  /** Stable message ID, set by the publisher. */
  readonly id: string;
  readonly data: Uint8Array;
  /** 1 on the first delivery, counted by the broker across redeliveries. */
  readonly attempt: number;
  /** The handler succeeded: the message is done for this group. */
  ack(): Promise<void>;
  /** The handler failed: deliver it again after `delay` ms (to any member of the group). */
  retry(delay: number): Promise<void>;
  /** Give up: move it to the dead-letter destination with `info`, and ack the original. */
  deadLetter(info: DeadLetterInfo): Promise<void>;
}

/** A running durable consumer. */
export interface DurableSubscription {
  close(): Promise<void>;
}

/** Options of a durable consumer. */
export interface DurableConsumeOptions {
  /** The consumer group: each group gets every message once; members share them. */
  group: string;
  /** Messages one member handles at once (prefetch). */
  concurrency: number;
  /**
   * The group belongs to one instance (a broadcast handler): a transporter may let it expire some
   * time after its member is gone, instead of keeping it for ever.
   */
  perInstance?: boolean;
}

/**
 * Persistent streams with consumer groups: what durable events need of a transporter that can
 * persist (RabbitMQ, NATS JetStream, Redis Streams). Delivery is at least once: a message is
 * acknowledged only after its handler succeeded, and redelivered (to another member) when the
 * member holding it dies.
 */
export interface DurableStreams {
  /**
   * Whether the streams survive a crash of this process (kept by a message broker). Default
   * true; false for the in-process streams of memory:// (and of a node on tcp://).
   */
  readonly persistent?: boolean;
  /** Publishes persistently; resolves once the server has taken it (confirm), rejects otherwise. */
  publish(stream: string, id: string, data: Uint8Array): Promise<void>;
  /** Starts a group member consuming `stream`. */
  consume(
    stream: string,
    options: DurableConsumeOptions,
    handler: (message: DurableMessage) => void,
  ): Promise<DurableSubscription>;
  /** Dead letters of this namespace, oldest first. */
  listDeadLetters(): Promise<DeadLetter[]>;
  /** Publishes a dead letter to its stream again (same ID) and removes it from the dead letters. */
  replayDeadLetter(id: string): Promise<boolean>;
}
