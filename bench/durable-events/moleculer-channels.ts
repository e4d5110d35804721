// moleculer-channels (@moleculer/channels on Moleculer) as a durable-events contender: one
// Moleculer broker that publishes with `sendToChannel` and one whose service consumes the channel,
// each with the middleware and so its adapter (and connections) of its own. The broker files
// (amqp.ts, nats.ts, redis.ts) give the adapter's options and the few hooks that make it do the
// same work as the other contenders, count its acks, and check and clean the server afterwards.
import channels from "@moleculer/channels";
import { type Middleware, ServiceBroker } from "moleculer";
import { counter, publishAll } from "./lib.js";

/** The channel every round publishes to, and the consuming service (its consumer group). */
export const CHANNEL = "order.placed";
export const GROUP = "sink";

/** What the bench uses of a broker the middleware extended (Moleculer's types do not know it). */
export interface ChannelsBroker {
  sendToChannel(channel: string, data: unknown, opts?: Record<string, unknown>): Promise<void>;
  /** The adapter instance: each broker file reads the few fields it needs through its own type. */
  readonly channelAdapter: unknown;
}

/** How a broker file sets up one round, once both brokers are started. */
export interface Wiring {
  /** Publishes message i; resolves once the server has it (confirm, PubAck, XADD's reply). */
  publish(i: number): Promise<unknown>;
  /** Sees each received raw message before the adapter acks it (NATS: to count that ack). */
  onMessage?(raw: unknown): void;
}

/** One round of moleculer-channels on one broker. */
export interface ChannelsRound {
  /** The Moleculer namespace, fresh per round: the adapter prefixes every name it makes with it. */
  namespace: string;
  /** The middleware's adapter configuration, the same on both brokers. */
  adapter: { type: string; options: Record<string, unknown> };
  /** Prepares publishing and counts each ack the consumer's adapter sends (calling `acked`). */
  wire(publisher: ChannelsBroker, consumer: ChannelsBroker, acked: () => void): Promise<Wiring>;
  /** After both brokers stopped: throws unless the server holds all n messages as acked. */
  check(n: number): Promise<void>;
  /** Deletes what the round made on the server (queue and exchange, stream, key). */
  cleanup(): Promise<void>;
}

/**
 * Runs one round: n messages published with at most 100 in flight, end to end from the first
 * publish to the last ack; returns messages/s. Throws unless every message was received once and
 * acked once, and the server agrees (`check`).
 */
export async function runChannels(round: ChannelsRound, n: number): Promise<number> {
  const acks = counter(n);
  let received = 0;
  let wiring: Wiring | undefined;
  const consumer = channelsBroker("consumer", round);
  // Typed by inference: Moleculer's ServiceSchema does not know the middleware's `channels`.
  const sink = {
    name: GROUP,
    channels: {
      [CHANNEL]: {
        // The adapter acks once this returns (a rejection would be redelivered).
        handler(_data: unknown, raw: unknown) {
          received++;
          wiring?.onMessage?.(raw);
        },
      },
    },
  };
  consumer.createService(sink);
  const publisher = channelsBroker("publisher", round);
  let opsPerSec: number;
  let stopped = false;
  try {
    // The consumer first: its subscription declares what publishing needs (exchange, stream).
    await consumer.start();
    await publisher.start();
    wiring = await round.wire(
      publisher as unknown as ChannelsBroker,
      consumer as unknown as ChannelsBroker,
      acks.done,
    );
    const { publish } = wiring;
    let published = 0;
    const started = performance.now();
    const delivered = async () => {
      await publishAll(n, (i) => publish(i).then(() => published++));
      return acks.all;
    };
    const ended = await untilStalled(
      delivered(),
      () => `${published} published, ${received} received, ${acks.count()} acked of ${n}`,
    );
    opsPerSec = Math.round((n * 1000) / (ended - started));
    await Promise.all([publisher.stop(), consumer.stop()]);
    stopped = true;
    if (received !== n || acks.count() !== n) {
      throw new Error(
        `moleculer-channels (${round.adapter.type}): ${received} received and ${acks.count()} acked of ${n}`,
      );
    }
    await round.check(n);
  } finally {
    if (!stopped) await Promise.allSettled([publisher.stop(), consumer.stop()]);
    await round.cleanup();
  }
  return opsPerSec;
}

/**
 * `done`, unless the counts (`progress`) stay the same for 10 s: then a rejection saying them, so
 * a lost message fails the round instead of hanging it.
 */
async function untilStalled<T>(done: Promise<T>, progress: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    let seen = progress();
    timer = setInterval(() => {
      const now = progress();
      if (now === seen) reject(new Error(`moleculer-channels stalled: ${now}`));
      seen = now;
    }, 10_000);
  });
  try {
    return await Promise.race([done, stall]);
  } finally {
    clearInterval(timer);
  }
}

/** A broker with the channels middleware; no transporter: the adapter is the only link. */
function channelsBroker(role: string, round: ChannelsRound): ServiceBroker {
  // Its typings want the options of every adapter at once; each file gives its adapter's.
  type Options = Parameters<typeof channels.Middleware>[0];
  const middleware = channels.Middleware({ adapter: round.adapter } as unknown as Options);
  return new ServiceBroker({
    nodeID: `${role}-${round.namespace}`,
    namespace: round.namespace,
    transporter: null,
    // Errors only: the adapters warn that our (newer) client libraries are not on their list.
    logger: { type: "Console", options: { level: "error" } },
    middlewares: [middleware as unknown as Middleware],
  });
}

/**
 * Polls `read` until `ok` holds, for at most a second: a server applies an ack a moment after
 * the client sent it, and the check runs right after the consumer's connection closed.
 */
export async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
): Promise<void> {
  const until = performance.now() + 1_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return;
    if (performance.now() > until) {
      throw new Error(`moleculer-channels: ${what}, but found ${JSON.stringify(value)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
