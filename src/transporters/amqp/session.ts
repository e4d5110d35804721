import type { Socket } from "node:net";
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import type { Logger } from "../../observability/logger.js";
import { readTlsFiles } from "../tls.js";
import type { AmqpHost, ResolvedAmqpOptions } from "./options.js";
import { groupQueueName, nodeQueueName } from "./options.js";
import type { Outgoing } from "./outbox.js";

/** The part of `amqplib` this transporter uses (loaded lazily, see `loadAmqplib`). */
export interface AmqpLib {
  connect(url: Options.Connect, socketOptions?: unknown): Promise<ChannelModel>;
}

/** One subscription as the transporter keeps it, to apply again on every new session. */
export interface Subscription {
  readonly topic: string;
  readonly group: string | undefined;
  readonly durable: boolean;
}

/** What a session reports to its transporter. */
export interface SessionHooks {
  readonly logger: Logger;
  /** A message arrived; a returned promise delays the ack of a group delivery until it settles. */
  deliver(topic: string, data: Buffer): unknown;
  /** The connection (or one of its channels) failed; called once, never after `close`. */
  lost(err: unknown): void;
}

/** Node-to-node messages go to transient queues, where persistence would mean nothing. */
const TRANSIENT: Options.Publish = {};
const PERSISTENT: Options.Publish = { persistent: true };

/**
 * One AMQP connection and what hangs off it: a channel to publish on, the node's private queue
 * (exclusive, auto-delete, consumed without acks for speed) and one channel per group
 * subscription (manual acks, prefetch). A session never reconnects: when it fails it reports
 * `lost` once and the transporter opens a new one, declaring everything again.
 */
export class AmqpSession {
  #failed = false;
  #closing = false;
  readonly #groups: Channel[] = [];

  private constructor(
    private readonly model: ChannelModel,
    private readonly pub: Channel,
    private readonly node: Channel,
    /** The node's private queue, bound with the topic of every plain subscription. */
    readonly queue: string,
    private readonly options: ResolvedAmqpOptions,
    private readonly hooks: SessionHooks,
  ) {}

  /**
   * Connects to `host` (with TCP no-delay: Nagle's algorithm would hold small frames back for
   * up to ~40 ms while an ACK is outstanding), declares the exchange and the node's queue.
   */
  static async open(
    lib: AmqpLib,
    options: ResolvedAmqpOptions,
    host: AmqpHost,
    identity: { nodeID: string; namespace: string },
    hooks: SessionHooks,
  ): Promise<AmqpSession> {
    const model = await lib.connect(
      {
        protocol: options.protocol,
        hostname: host.host,
        port: host.port,
        username: options.username,
        password: options.password,
        // amqplib unescapes the vhost once more; escaping keeps a literal '%' intact.
        vhost: encodeURIComponent(options.vhost),
        heartbeat: options.heartbeat,
        frameMax: options.frameMax,
      },
      {
        noDelay: true,
        // amqps: the socket options of tls.connect (CA, client certificate).
        ...readTlsFiles(options.tls),
        timeout: options.connectTimeout,
        clientProperties: { connection_name: `flotilla ${identity.namespace}/${identity.nodeID}` },
      },
    );
    coalesceWrites(model);
    let session: AmqpSession | undefined;
    // A loss before the session exists needs no report: the pending declare below rejects.
    model.on("close", (err: unknown) => {
      if (session) session.#fail(err ?? new Error("AMQP connection closed"));
    });
    model.on("error", (err: unknown) => hooks.logger.debug({ err }, "amqp connection error"));
    try {
      const pub = await channel(model, hooks.logger);
      const node = await channel(model, hooks.logger);
      await pub.assertExchange(options.exchange, "direct", { durable: true });
      const queue = nodeQueueName(options.exchange, identity.namespace, identity.nodeID);
      await node.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false });
      const s = new AmqpSession(model, pub, node, queue, options, hooks);
      session = s;
      for (const ch of [pub, node]) ch.on("close", () => s.#channelClosed("AMQP channel closed"));
      await node.consume(queue, (msg) => s.#onPrivate(msg), { noAck: true, exclusive: true });
      return s;
    } catch (err) {
      if (session) session.destroy();
      else socketOf(model)?.destroy(asError(err));
      throw err;
    }
  }

  /** The TCP socket under the connection (for `kill` and for tests that check its options). */
  get socket(): Socket | undefined {
    return socketOf(this.model);
  }

  /** Whether the session failed or was closed: nothing more can be done on it. */
  get closed(): boolean {
    return this.#failed || this.#closing;
  }

  /**
   * Makes the server route `sub.topic` to this node: a binding of the private queue, or for a
   * group, a shared queue (durable or auto-delete) consumed on a channel of its own.
   */
  async apply(sub: Subscription): Promise<void> {
    const { exchange } = this.options;
    if (sub.group === undefined) {
      await this.node.bindQueue(this.queue, exchange, sub.topic);
      return;
    }
    const queue = groupQueueName(exchange, sub.topic, sub.group);
    const ch = await channel(this.model, this.hooks.logger);
    try {
      // Per consumer (global=false): each member holds at most `prefetch` unacked deliveries.
      if (this.options.prefetch > 0) await ch.prefetch(this.options.prefetch, false);
      await ch.assertQueue(
        queue,
        sub.durable ? { durable: true } : { durable: false, autoDelete: true },
      );
      await ch.bindQueue(queue, exchange, sub.topic);
      await ch.consume(queue, (msg) => this.#onGroup(ch, queue, msg), { noAck: false });
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw err;
    }
    // Watched only once consuming: a failed declare closes the channel, which is not a loss.
    ch.on("close", () => this.#channelClosed(`AMQP channel of queue '${queue}' closed`));
    this.#groups.push(ch);
  }

  /**
   * A channel of its own on this connection, a confirm channel with `confirm` (durable events
   * consume, and publish with confirms, on theirs). Its errors are logged; see {@link watch}.
   */
  openChannel(confirm: true): Promise<ConfirmChannel>;
  openChannel(confirm?: false): Promise<Channel>;
  openChannel(confirm = false): Promise<Channel> {
    return channel(this.model, this.hooks.logger, confirm);
  }

  /**
   * Makes an unexpected close of `ch` a loss of this session, as for the transporter's own
   * channels: the transporter reconnects and everything is declared again. Returns the function
   * that stops watching, to call before closing `ch` on purpose.
   */
  watch(ch: Channel, what: string): () => void {
    const lost = () => this.#channelClosed(`AMQP channel of ${what} closed`);
    ch.once("close", lost);
    return () => ch.off("close", lost);
  }

  /**
   * Hands one message to amqplib's write buffer (no round trip). Returns `false` when the buffer
   * is full: wait for {@link onDrain} before writing more. Throws once the channel is closed.
   * `persistent` messages are written to disk by durable queues; `ttl` (ms) sets the AMQP
   * per-message expiration, after which the queue drops the message instead of delivering it.
   */
  publish({ topic, content, ttl, persistent }: Outgoing): boolean {
    const props: Options.Publish =
      ttl === undefined
        ? persistent
          ? PERSISTENT
          : TRANSIENT
        : { persistent, expiration: String(Math.max(0, Math.ceil(ttl))) };
    return this.pub.publish(this.options.exchange, topic, content, props);
  }

  /** Calls `fn` once the publish channel's buffer has room again. */
  onDrain(fn: () => void): void {
    this.pub.once("drain", fn);
  }

  /**
   * Closes gracefully: first the publish channel, whose close-ok comes only after the server
   * has routed every message published before it (a `connection.close` right behind a publish
   * loses it, goodbye packets included); then the connection, which closes every other channel,
   * deletes the private queue and requeues unacked deliveries. A server that does not answer
   * within `timeout` ms gets the socket destroyed.
   */
  async close(timeout = 2000): Promise<void> {
    if (this.closed) return this.destroy();
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    const closed = (async () => {
      await this.pub.close().catch(() => undefined);
      await this.model.close().catch(() => undefined);
    })();
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeout);
    });
    if ((await Promise.race([closed, late])) === "late") this.destroy();
    clearTimeout(timer);
  }

  /** Drops the connection without a goodbye, as a crashed process would. */
  destroy(): void {
    this.#closing = true;
    this.socket?.destroy(new Error("AMQP connection dropped on purpose"));
  }

  #onPrivate(msg: ConsumeMessage | null): void {
    if (msg === null) {
      this.#fail(new Error(`RabbitMQ cancelled the consumer of queue '${this.queue}'`));
      return;
    }
    this.hooks.deliver(msg.fields.routingKey, msg.content);
  }

  /** Acks once the handler has the message (or, if it returns a promise, once that settles). */
  #onGroup(ch: Channel, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      this.#fail(new Error(`RabbitMQ cancelled the consumer of queue '${queue}'`));
      return;
    }
    const ack = () => {
      if (this.closed) return; // the server requeues it; acking a dead channel would throw
      try {
        ch.ack(msg);
      } catch (err) {
        this.hooks.logger.debug({ err, queue }, "could not ack a delivery");
      }
    };
    const result = this.hooks.deliver(msg.fields.routingKey, msg.content);
    if (isThenable(result)) result.then(ack, ack);
    else ack();
  }

  /**
   * A channel closed unexpectedly: a loss of the session. Reported a tick later, because when
   * the server closes the whole connection amqplib closes its channels first and reports the
   * connection's close (with the server's reason, e.g. `541 INTERNAL_ERROR`) right after: that
   * reason is the one worth logging.
   */
  #channelClosed(reason: string): void {
    process.nextTick(() => this.#fail(new Error(reason)));
  }

  #fail(err: unknown): void {
    if (this.#failed || this.#closing) return;
    this.#failed = true;
    this.socket?.destroy(asError(err));
    this.hooks.lost(err);
  }
}

/** A new channel whose errors are logged (an unheard 'error' event would crash the process). */
async function channel(model: ChannelModel, logger: Logger, confirm = false): Promise<Channel> {
  const ch = confirm ? await model.createConfirmChannel() : await model.createChannel();
  ch.on("error", (err: unknown) => logger.debug({ err }, "amqp channel error"));
  return ch;
}

/**
 * amqplib writes each frame with its own `socket.write()`: with no-delay, one syscall and one TCP
 * segment per message, which at 64 calls in flight cost half of this process's CPU time. Its
 * multiplexer writes every frame that is ready in one pass; corking the socket around that pass
 * sends them with one `writev`. A single message still leaves at once (no added latency). Reaches
 * into amqplib internals, so it checks their shape and does nothing if they change.
 */
function coalesceWrites(model: ChannelModel): void {
  const connection = model.connection as unknown as {
    muxer?: { _readIncoming?: () => void };
    stream?: Socket;
  };
  const { muxer, stream } = connection;
  const pass = muxer?._readIncoming;
  if (muxer === undefined || stream === undefined || typeof pass !== "function") return;
  muxer._readIncoming = () => {
    stream.cork();
    try {
      pass.call(muxer);
    } finally {
      stream.uncork();
    }
  };
}

function socketOf(model: ChannelModel): Socket | undefined {
  // amqplib keeps the socket as `connection.stream`; its typings do not declare it.
  return (model.connection as unknown as { stream?: Socket }).stream;
}

/**
 * amqplib notices a dead socket only by its 'error' or 'end' event: destroying it with an error
 * makes it close the connection (and stop its heartbeat timers) rather than hang on to it.
 */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}
