import type { Logger } from "../../observability/logger.js";
import type { DurableStreams } from "../durable.js";
import { connectFailed, nameTooLong, notConnected } from "../errors.js";
import type {
  PublishOptions,
  SubscribeOptions,
  Transporter,
  TransporterCapabilities,
  TransporterContext,
} from "../transporter.js";
import { AmqpDurableStreams } from "./durable.js";
import {
  type AmqpOptions,
  MAX_NAME_BYTES,
  type ResolvedAmqpOptions,
  resolveAmqpOptions,
} from "./options.js";
import { Outbox } from "./outbox.js";
import { type AmqpLib, AmqpSession, type Subscription } from "./session.js";

/** One connect() until disconnect()/kill(): ends its reconnect loop when stopped. */
interface Run {
  readonly context: TransporterContext;
  readonly logger: Logger;
  stopped: boolean;
  /** Cuts the reconnect backoff short (on stop). */
  wake?: () => void;
}

/**
 * Publish options of `amqp://`. `persistent` has durable queues write the message to disk, so
 * it survives a broker restart. Default: persistent when a `ttl` is given, since a message with
 * a deadline is one meant to wait in a queue (transit sets it on broker-balanced requests), and
 * transient otherwise: node-to-node packets go to transient queues, where the flag only costs
 * broker time (about 10% of throughput measured here).
 */
export interface AmqpPublishOptions extends PublishOptions {
  persistent?: boolean;
}

/**
 * RabbitMQ (AMQP 0-9-1) through `amqplib`. Every message goes through one durable direct
 * exchange with the topic as routing key; each node consumes a private queue bound to its plain
 * subscriptions, and each group shares a queue the broker balances (see `docs/transporters-amqp.md`).
 * After a connection loss it reconnects with backoff forever, declares and binds everything
 * again, and reports `onConnection(false)` / `onConnection(true)`; meanwhile `publish` fails at
 * once with a retryable `TRANSPORTER_NOT_CONNECTED`.
 *
 * @example
 * ```ts
 * const t = new AmqpTransporter(lib, { hosts: [{ host: "127.0.0.1", port: 5672 }] });
 * await t.connect({ nodeID: "n1", namespace: "", logger, maxPacketSize: 16 << 20, onMessage: () => {} });
 * await t.subscribe("jobs", "workers", { durable: true });
 * await t.publish("jobs", new TextEncoder().encode("hi"), { ttl: 5000 });
 * ```
 */
export class AmqpTransporter implements Transporter {
  readonly capabilities: TransporterCapabilities = {
    balancing: true,
    durable: true,
    persistentQueues: true,
    peerAware: false,
  };
  readonly options: ResolvedAmqpOptions;
  readonly #subs = new Map<string, Subscription>();
  #run: Run | undefined;
  #session: AmqpSession | undefined;
  readonly #outbox = new Outbox();
  /** Durable streams by namespace, resumed on every new session; dropped on disconnect. */
  readonly #durable = new Map<string, AmqpDurableStreams>();
  #nextHost = 0;

  constructor(
    private readonly lib: AmqpLib,
    options: AmqpOptions = {},
  ) {
    this.options = resolveAmqpOptions(options);
  }

  /** Whether a session is up: publishes go out and subscriptions are in place. */
  get connected(): boolean {
    return this.#session !== undefined;
  }

  /** The current session (for tests: its socket and private queue). */
  get session(): AmqpSession | undefined {
    return this.#session;
  }

  /**
   * Connects, declares the exchange and this node's queue, and binds what was subscribed
   * before. The first connection must succeed (a wrong URL fails the start at once, retryably);
   * only a connection lost later is retried.
   */
  async connect(context: TransporterContext): Promise<void> {
    if (this.#run !== undefined) throw new Error("AmqpTransporter is already connected.");
    const run: Run = {
      context,
      logger: context.logger.child({ transporter: "amqp" }),
      stopped: false,
    };
    this.#run = run;
    try {
      this.#session = await this.#open(run);
    } catch (cause) {
      this.#run = undefined;
      throw connectFailed(`RabbitMQ at ${this.#where()}`, cause);
    }
  }

  /** Flushes buffered publishes, then closes the connection; this node's queue goes with it. */
  async disconnect(): Promise<void> {
    const session = this.#stop();
    if (session === undefined) return;
    await this.#outbox.flushed(session, 5000);
    this.#outbox.clear();
    await session.close();
  }

  /** Drops the connection with no goodbye and nothing flushed, as a crashed process would. */
  async kill(): Promise<void> {
    this.#stop()?.destroy();
    this.#outbox.clear();
  }

  /**
   * Routes `topic` to this node: a binding of its private queue, or with `group`, a queue shared
   * by the group's members (durable with `{ durable: true }`). Resolves once bound; while
   * disconnected, it is recorded and bound on reconnect.
   */
  async subscribe(topic: string, group?: string, options?: SubscribeOptions): Promise<void> {
    checkName("topic", topic);
    if (group !== undefined) checkName("group", group);
    const key = group === undefined ? topic : `${group}\u0000${topic}`;
    if (this.#subs.has(key)) return;
    const sub: Subscription = {
      topic,
      group,
      durable: group !== undefined && options?.durable === true,
    };
    this.#subs.set(key, sub);
    const session = this.#session;
    if (session === undefined) return;
    try {
      await session.apply(sub);
    } catch (err) {
      // Lost meanwhile: the next session binds it. Refused by the server: forget it.
      if (session.closed) return;
      this.#subs.delete(key);
      // Not the connection: a declaration the server will not take (INTERNAL_ERROR).
      throw new Error(`RabbitMQ refused the subscription to '${topic}': ${message(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Publishes without waiting for the broker (no confirms: transit has its own timeouts). Only
   * when amqplib's buffer is full does it wait for room, keeping publish order. The size of
   * `data` is transit's to check (`maxPacketSize`, which must not exceed RabbitMQ's
   * `max_message_size`: a larger message makes the server close the channel).
   */
  publish(topic: string, data: Uint8Array, options?: AmqpPublishOptions): Promise<void> {
    const session = this.#session;
    if (session === undefined) return Promise.reject(notConnected("amqp"));
    if (Buffer.byteLength(topic) > MAX_NAME_BYTES)
      return Promise.reject(nameTooLong("topic", topic, MAX_NAME_BYTES));
    // A view, not a copy: amqplib copies small messages into its frame buffer at once.
    const content = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const ttl = options?.ttl;
    const persistent = options?.persistent ?? ttl !== undefined;
    return this.#outbox.send(session, { topic, content, ttl, persistent });
  }

  /**
   * Durable events of `namespace` (see docs/durable-amqp.md): durable queues per consumer group,
   * persistent messages, publisher confirms, delayed retries and a dead-letter queue. Consumers
   * are started again after every reconnect.
   *
   * @example
   * ```ts
   * await t.connect(context);
   * const streams = t.durableStreams("shop");
   * await streams.publish("orders.placed", randomUUID(), bytes); // resolves once confirmed
   * ```
   */
  durableStreams(namespace: string): DurableStreams {
    let streams = this.#durable.get(namespace);
    if (streams === undefined) {
      const host = { session: () => this.#session, logger: () => this.#run?.logger };
      streams = new AmqpDurableStreams(host, this.options.exchange, namespace, {
        queueType: this.options.queueType,
      });
      this.#durable.set(namespace, streams);
    }
    return streams;
  }

  /** Opens a session and applies every subscription on it; throws if any step fails. */
  async #open(run: Run): Promise<AmqpSession> {
    const host = this.options.hosts[this.#nextHost++ % this.options.hosts.length]!;
    const { nodeID, namespace } = run.context;
    let session: AmqpSession | undefined;
    session = await AmqpSession.open(
      this.lib,
      this.options,
      host,
      { nodeID, namespace },
      {
        logger: run.logger,
        deliver: (topic, data) => {
          try {
            return run.context.onMessage(topic, data);
          } catch (err) {
            run.logger.error({ err, topic }, "onMessage threw; message dropped");
            return undefined;
          }
        },
        lost: (err) => session !== undefined && this.#session === session && this.#lost(run, err),
      },
    );
    try {
      // Live iteration: a subscribe() made while this runs is applied here too.
      for (const sub of this.#subs.values()) {
        if (run.stopped || session.closed) break;
        await session.apply(sub).catch((err: unknown) => {
          if (session?.closed) throw err;
          run.logger.error(
            { err, topic: sub.topic, group: sub.group },
            "RabbitMQ refused a subscription",
          );
        });
      }
      for (const streams of this.#durable.values()) {
        if (run.stopped || session.closed) break;
        await streams.resume(session).catch((err: unknown) => {
          if (session?.closed) throw err;
          run.logger.error({ err }, "RabbitMQ refused the durable events' declarations");
        });
      }
      if (run.stopped || session.closed) throw new Error("connection closed while subscribing");
    } catch (err) {
      session.destroy();
      throw err;
    }
    return session;
  }

  #lost(run: Run, err: unknown): void {
    this.#session = undefined;
    this.#outbox.clear();
    run.logger.warn({ err }, "Lost the connection to RabbitMQ; reconnecting");
    run.context.onConnection?.(false);
    void this.#reconnect(run);
  }

  /** Retries forever with exponential backoff (with jitter, so nodes do not all dial at once). */
  async #reconnect(run: Run): Promise<void> {
    const { min, max } = this.options.reconnectDelay;
    for (let attempt = 0; !run.stopped; attempt++) {
      const delay = Math.min(max, min * 2 ** attempt) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        run.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (run.stopped) return;
      try {
        const session = await this.#open(run);
        if (run.stopped) return session.destroy();
        this.#session = session;
        run.logger.info({ attempts: attempt + 1 }, "Reconnected to RabbitMQ");
        run.context.onConnection?.(true);
        return;
      } catch (err) {
        run.logger.debug({ err, attempt }, "RabbitMQ reconnect attempt failed");
      }
    }
  }

  /** Ends the run (no more reconnects) and hands back the session to close. */
  #stop(): AmqpSession | undefined {
    const run = this.#run;
    this.#run = undefined;
    // Their consumers belong to this run: the next connect() starts with none.
    this.#durable.clear();
    if (run !== undefined) {
      run.stopped = true;
      run.wake?.();
    }
    const session = this.#session;
    this.#session = undefined;
    return session;
  }

  #where(): string {
    const { protocol, hosts, vhost } = this.options;
    return hosts
      .map((h) => `${protocol}://${h.host}:${h.port}/${encodeURIComponent(vhost)}`)
      .join(", ");
  }
}

function checkName(what: "topic" | "group", name: string): void {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw nameTooLong(what, name, MAX_NAME_BYTES);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
