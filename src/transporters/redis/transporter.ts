import type { Redis } from "ioredis";
import type { Logger } from "../../observability/logger.js";
import { optionalDependency } from "../../util/optional.js";
import { FLUSH_EVERY } from "../batching.js";
import type { DurableStreams } from "../durable.js";
import { connectFailed, notConnected, publishFailed } from "../errors.js";
import type { Transporter, TransporterCapabilities, TransporterContext } from "../transporter.js";
import { clientOptions, type RedisTransporterOptions, serverName } from "./options.js";
import { RedisStreams } from "./streams.js";

type RedisModule = Pick<typeof import("ioredis"), "Redis">;
/** Loads `ioredis`, an optional peer dependency, on first use; without it, says what to install. */
export const loadRedisClient: () => Promise<RedisModule> = optionalDependency(
  "ioredis",
  "The redis transporter",
  () => import("ioredis"),
);

/** The two connections of one connect(), and what is known about them. */
interface Run {
  readonly pub: Redis;
  readonly sub: Redis;
  readonly context: TransporterContext;
  readonly logger: Logger;
  /** The subscriber is connected and has every subscription again (not just "ready"). */
  subscribed: boolean;
  /** Both connections are usable: publishes fail fast while not. */
  up: boolean;
  /** Set once connect() is done; before that, state changes are connect()'s business. */
  started: boolean;
  /** The publisher's socket holds its writes until the current microtasks are done. */
  corked: boolean;
  /** Publishes written since the socket was corked. */
  queued: number;
  /** Counts the subscriber's reconnects, so a late resubscribe of an earlier one is ignored. */
  generation: number;
  /** The subscriptions of the first connection, awaited by connect(). */
  ready: Promise<void> | undefined;
}

/**
 * The `redis://` transporter: Redis pub/sub through `ioredis` (an optional peer dependency), one
 * connection to publish and one to subscribe (a subscribing Redis connection can do nothing
 * else). Redis pub/sub has no consumer groups, so a `group` is ignored and every subscriber of a
 * channel gets each message (capabilities: not balancing, not durable, not peer-aware). Both
 * connections reconnect for ever with backoff; the subscriber subscribes again before the node
 * hears `onConnection(true)`. While either is down, `publish` fails at once with the retryable
 * `TRANSPORTER_NOT_CONNECTED`: nothing waits in an offline queue. With `sentinel` set, every
 * connection (these two and those of durable events) finds the master through Redis Sentinel.
 *
 * @example
 * ```ts
 * const t = new RedisTransporter({ host: "127.0.0.1", port: 6379 });
 * await t.connect({ nodeID: "n1", namespace: "", logger, maxPacketSize: 16 << 20, onMessage: () => {} });
 * await t.subscribe("greetings");
 * await t.publish("greetings", new TextEncoder().encode("hi"));
 * ```
 */
export class RedisTransporter implements Transporter {
  readonly capabilities: TransporterCapabilities = {
    balancing: false,
    // Durable events run on Redis Streams (durableStreams); pub/sub itself stays fire-and-forget.
    durable: true,
    peerAware: false,
  };
  readonly #topics = new Set<string>();
  readonly #streams = new Set<RedisStreams>();
  #run: Run | undefined;

  constructor(readonly options: RedisTransporterOptions = {}) {}

  /** Whether both connections are usable right now. */
  get connected(): boolean {
    return this.#run?.up === true;
  }

  /** Connects both connections (failing with `TRANSPORTER_NOT_CONNECTED`) and subscribes again. */
  async connect(context: TransporterContext): Promise<void> {
    if (this.#run !== undefined) throw new Error("RedisTransporter is already connected.");
    const { Redis } = await loadRedisClient();
    const logger = context.logger.child({ transporter: "redis" });
    const o = clientOptions(this.options, context);
    const run: Run = {
      pub: new Redis(o),
      sub: new Redis(o),
      context,
      logger,
      subscribed: false,
      up: false,
      started: false,
      corked: false,
      queued: 0,
      generation: 0,
      ready: undefined,
    };
    this.#follow(run);
    this.#run = run;
    try {
      await Promise.all([run.pub.connect(), run.sub.connect()]);
      await run.ready;
    } catch (cause) {
      this.#end();
      run.pub.disconnect();
      run.sub.disconnect();
      const where = serverName(this.options);
      throw connectFailed(`Redis at ${where}`, cause, { server: where });
    }
    run.started = true;
  }

  /** Lets Redis answer what was sent, then closes both connections. */
  async disconnect(): Promise<void> {
    await Promise.all([...this.#streams].map((s) => s.close()));
    this.#streams.clear();
    const run = this.#end();
    if (run === undefined) return;
    // QUIT is answered after every command before it, so nothing published is lost.
    await Promise.all([run.pub.quit(), run.sub.quit()]).catch(() => undefined);
    run.pub.disconnect();
    run.sub.disconnect();
  }

  /** Drops both connections at once, as a crash would. */
  async kill(): Promise<void> {
    for (const streams of this.#streams) streams.kill();
    this.#streams.clear();
    const run = this.#end();
    run?.pub.disconnect();
    run?.sub.disconnect();
  }

  /** Subscribes to the channel `topic` (a `group` is ignored: Redis pub/sub has none). */
  async subscribe(topic: string, _group?: string): Promise<void> {
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    const run = this.#run;
    // Not subscribed yet: the (re)subscription under way when connected picks it up.
    if (run === undefined || !run.subscribed) return;
    await run.sub.subscribe(topic).catch((err: unknown) => {
      // Lost the connection meanwhile: subscribing again after the reconnect covers it.
      if (run.subscribed) throw err;
    });
  }

  /**
   * Publishes `data` (as is, no copy) to the channel `topic`; resolves when Redis has taken it.
   * Fails at once while either connection is down.
   */
  publish(topic: string, data: Uint8Array): Promise<void> {
    const run = this.#run;
    if (run === undefined || !run.up) return Promise.reject(notConnected("redis"));
    // ioredis sends Buffers as bytes but would turn any other Uint8Array into text.
    const bytes = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!run.corked) {
      // ioredis writes each command at once. Corking the socket until this burst of microtasks
      // is over sends every publish of the burst in one write (as the NATS client does): at 64
      // calls in flight about 2.5x the throughput of a write per command, and no wait for one.
      // (ioredis' own autopipelining batches too, but waits for setImmediate: slower alone.)
      // A long burst is flushed every FLUSH_EVERY publishes, so the server starts on it sooner.
      const { stream } = run.pub;
      run.corked = true;
      stream.cork();
      queueMicrotask(() => {
        run.corked = false;
        run.queued = 0;
        stream.uncork();
      });
    }
    const sent = run.pub.publish(topic, bytes);
    if (++run.queued >= FLUSH_EVERY) {
      run.queued = 0;
      run.pub.stream.uncork();
      run.pub.stream.cork();
    }
    return sent.then(ignore, (err: unknown) => {
      throw publishFailed("redis", err);
    });
  }

  /**
   * Durable events of `namespace` on Redis Streams (see `RedisStreams`), on connections of their
   * own: one for commands, one per consuming group member for its blocking reads. Closed with
   * the transporter.
   *
   * @example
   * ```ts
   * await t.connect(context);
   * await t.durableStreams("shop").publish("orders.placed", randomUUID(), bytes);
   * ```
   */
  durableStreams(namespace: string): DurableStreams {
    const run = this.#run;
    if (run === undefined) throw new Error("RedisTransporter: connect() before durableStreams().");
    const o = clientOptions(this.options, run.context);
    const streams = new RedisStreams({
      namespace,
      nodeID: run.context.nodeID,
      logger: run.logger,
      claimIdle: this.options.claimIdle,
      maxLen: this.options.maxLen,
      client: async (role) => {
        const { Redis } = await loadRedisClient();
        return new Redis({ ...o, connectionName: `${o.connectionName}:${role}` });
      },
    });
    this.#streams.add(streams);
    return streams;
  }

  /** Wires the connections' events to the state of `run`. */
  #follow(run: Run): void {
    const { pub, sub, context, logger } = run;
    const update = () => {
      const up = run.subscribed && pub.status === "ready";
      if (up === run.up || this.#run !== run) return;
      run.up = up;
      if (!run.started) return;
      if (up) logger.info("Reconnected to Redis");
      else logger.warn("Lost the Redis server; reconnecting");
      context.onConnection?.(up);
    };
    pub.on("ready", update);
    pub.on("close", update);
    sub.on("close", () => {
      run.subscribed = false;
      run.generation += 1;
      update();
    });
    sub.on("ready", () => {
      const generation = run.generation;
      const done = this.#subscribeAll(sub);
      // connect() awaits the first one; until then, a failure is not an unhandled rejection.
      run.ready ??= done;
      done.then(
        () => {
          if (run.generation !== generation) return;
          run.subscribed = true;
          update();
        },
        (err: unknown) => {
          if (run.generation !== generation || !run.started) return;
          // Connected but not subscribed would deafen the node: reconnect and try again.
          logger.warn({ err }, "Could not subscribe again after reconnecting; reconnecting");
          sub.disconnect(true);
        },
      );
    });
    sub.on("messageBuffer", (channel: Buffer, message: Buffer) => {
      const topic = channel.toString();
      try {
        context.onMessage(topic, message);
      } catch (err) {
        logger.error({ err, topic }, "onMessage threw; message dropped");
      }
    });
    // Without a listener ioredis prints every failed reconnect attempt; one warning is enough.
    let warned = false;
    const onError = (err: Error) => {
      if (run.started && !warned) logger.warn({ err }, "Redis connection error");
      else logger.debug({ err }, "Redis connection error");
      warned = true;
    };
    pub.on("error", onError);
    sub.on("error", onError);
    pub.on("ready", () => {
      warned = false;
    });
  }

  /** Subscribes `sub` to every topic, including those added while it was at it. */
  async #subscribeAll(sub: Redis): Promise<void> {
    const done = new Set<string>();
    for (;;) {
      const missing = [...this.#topics].filter((topic) => !done.has(topic));
      if (missing.length === 0) return;
      await sub.subscribe(...missing);
      for (const topic of missing) done.add(topic);
    }
  }

  #end(): Run | undefined {
    const run = this.#run;
    this.#run = undefined;
    if (run !== undefined) run.up = false;
    return run;
  }
}

const ignore = (): void => {};
