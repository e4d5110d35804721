// Durable events on RabbitMQ: publish-with-confirm to consume-with-ack throughput, end to end
// (first publish to last ack), N messages with up to 100 publishes in flight and a prefetch of
// 100, publisher and consumer in this process on connections of their own. What each contender
// does per message (also in the results' `perMessage`):
//   (a) raw amqplib, the floor: a persistent message (with a messageId, mandatory) to a durable
//       classic queue through the default exchange, on a confirm channel, awaiting its confirm;
//       the consumer (prefetch 100) parses the JSON and acks. Plain, and with its frames corked
//       into one socket write per pass, as amqp:// does;
//   (b) Flotilla durable events on amqp:// (an emitter node and a consumer node): a persistent,
//       mandatory message with a messageId to a durable direct exchange routed to the group's
//       durable classic queue, `emit` resolving on its confirm; the consumer (concurrency 100 =
//       prefetch) acks after the handler;
//   (c) moleculer-channels' AMQP adapter (two Moleculer brokers): a persistent message (with a
//       correlationId) to a durable fanout exchange bound to the group's durable classic queue;
//       the consumer (maxInFlight 100 = prefetch) acks after the handler. What differs: as
//       shipped, the adapter publishes on a plain channel and `sendToChannel` resolves without a
//       confirm; here the publishing broker's adapter is given a confirm channel on its own
//       connection and each publish waits for its own confirm, as the others do. It does not set
//       mandatory (nothing is unroutable here). noDelay is set on its sockets, as on (a)'s.
// Each round declares fresh queues/exchanges (named after the pid and round) and deletes them.
// Run: node --import tsx bench/durable-events/amqp.ts   (results in bench/results/durable-events-amqp.json)
// Needs RabbitMQ on 127.0.0.1:5672 (guest/guest). BENCH_N: messages per round (default 20000);
// BENCH_ROUNDS: interleaved rounds, each row reports its median and min–max (default 5);
// BENCH_RESULTS_DIR: where the results file goes instead (for trial runs).
import { randomUUID } from "node:crypto";
import amqplib from "amqplib";
import { defineService, ServiceBroker } from "flotilla";
import { deleteAmqpNamespace } from "../../test/events/durable/servers.js";
import { compare, counter, payload, publishAll } from "./lib.js";
import { CHANNEL, type ChannelsBroker, GROUP, runChannels } from "./moleculer-channels.js";

const URL_ = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const PREFETCH = 100;

const RAW = "raw amqplib (confirm + manual ack)";
const RAW_CORKED = "raw amqplib, writes coalesced";
const FLOTILLA = "flotilla durable events, amqp://";
const MOLECULER = "moleculer-channels AMQP, confirms added";

/** (a) The floor: what amqplib and RabbitMQ do with nothing on top. */
async function raw(round: string, n: number, corked = false): Promise<number> {
  const queue = `bench-durable-raw-${process.pid}-${round}-${corked ? "c" : "p"}`;
  const pubConn = await amqplib.connect(URL_, { noDelay: true });
  const subConn = await amqplib.connect(URL_, { noDelay: true });
  if (corked) for (const conn of [pubConn, subConn]) coalesce(conn);
  try {
    const pub = await pubConn.createConfirmChannel();
    const sub = await subConn.createChannel();
    await sub.assertQueue(queue, { durable: true });
    await sub.prefetch(PREFETCH, false);
    const acks = counter(n);
    await sub.consume(
      queue,
      (msg) => {
        if (msg === null) return;
        JSON.parse(msg.content.toString());
        sub.ack(msg);
        acks.done();
      },
      { noAck: false },
    );
    const started = performance.now();
    await publishAll(
      n,
      () =>
        new Promise<void>((resolve, reject) => {
          const content = Buffer.from(JSON.stringify(payload));
          const props = { persistent: true, messageId: randomUUID(), mandatory: true };
          pub.sendToQueue(queue, content, props, (err: unknown) => (err ? reject(err) : resolve()));
        }),
    );
    const ended = await acks.all;
    await sub.deleteQueue(queue);
    return Math.round((n * 1000) / (ended - started));
  } finally {
    await pubConn.close().catch(() => undefined);
    await subConn.close().catch(() => undefined);
  }
}

/**
 * amqplib writes each frame with its own `socket.write()`; corking the socket around each pass
 * of its frame multiplexer sends them in one `writev` (what amqp:// does, see session.ts).
 */
function coalesce(conn: amqplib.ChannelModel): void {
  const c = conn.connection as unknown as {
    muxer: { _readIncoming: () => void };
    stream: { cork(): void; uncork(): void };
  };
  const pass = c.muxer._readIncoming.bind(c.muxer);
  c.muxer._readIncoming = () => {
    c.stream.cork();
    pass();
    c.stream.uncork();
  };
}

/** (b) Flotilla: `emit` resolves on the confirm; the consumer acks after its handler. */
async function flotilla(round: string, n: number): Promise<number> {
  const namespace = `bench-durable-${process.pid}-${round}`;
  const acks = counter(n);
  const consumer = new ServiceBroker({
    nodeID: `consumer-${round}`,
    namespace,
    logger: false,
    transporter: URL_,
  });
  consumer.createService(
    defineService({
      name: "sink",
      events: {
        "order.placed": { durable: true, concurrency: PREFETCH, handler: () => acks.done() },
      },
    }),
  );
  const emitter = new ServiceBroker({
    nodeID: `emitter-${round}`,
    namespace,
    logger: false,
    transporter: URL_,
  });
  try {
    await Promise.all([consumer.start(), emitter.start()]);
    const started = performance.now();
    await publishAll(n, () => emitter.emit("order.placed", payload, { durable: true }));
    const ended = await acks.all;
    return Math.round((n * 1000) / (ended - started));
  } finally {
    await Promise.allSettled([emitter.stop(), consumer.stop()]);
    await deleteAmqpNamespace(URL_, namespace, { "order.placed": ["sink"] });
  }
}

/** What the bench uses of moleculer-channels' AMQP adapter (amqplib objects it holds). */
interface AmqpAdapter {
  connection: amqplib.ChannelModel;
  channel: amqplib.Channel;
}

/**
 * (c) moleculer-channels: `sendToChannel` on one broker, a `channels` handler on the other. Its
 * publishing adapter gets a confirm channel; each publish waits for the confirm of its own
 * message, found by the correlationId the adapter passes through.
 */
async function moleculer(round: string, n: number): Promise<number> {
  const namespace = `bench-mc-${process.pid}-${round}`;
  // The adapter's names: the channel prefixed with the namespace, the queue with the group.
  const exchange = `${namespace}.${CHANNEL}`;
  const queue = `${GROUP}.${exchange}`;
  return runChannels(
    {
      namespace,
      adapter: {
        type: "AMQP",
        options: {
          maxInFlight: PREFETCH,
          amqp: {
            url: URL_,
            socketOptions: { noDelay: true },
            // Durable exchange and queue are amqplib's defaults; persistence is asked for here.
            messageOptions: { persistent: true },
          },
        },
      },
      wire: async (publisher, consumer, acked) => {
        countAcks(consumer, acked);
        const confirmed = await confirmChannel(publisher);
        return {
          publish: () => {
            const id = randomUUID();
            return Promise.all([
              confirmed(id),
              publisher.sendToChannel(CHANNEL, payload, { correlationId: id }),
            ]);
          },
        };
      },
      check: () =>
        withChannel(async (ch) => {
          // The consumer's connection is closed: a message it had not acked is ready again.
          const { messageCount } = await ch.checkQueue(queue);
          if (messageCount !== 0) {
            throw new Error(`moleculer-channels AMQP: ${messageCount} messages left in ${queue}`);
          }
        }),
      cleanup: () =>
        withChannel(async (ch) => {
          await ch.deleteQueue(queue);
          await ch.deleteExchange(exchange);
        }),
    },
    n,
  );
}

/** Counts the acks the consumer's adapter sends (it acks on its one channel after the handler). */
function countAcks(consumer: ChannelsBroker, acked: () => void): void {
  const { channel } = consumer.channelAdapter as AmqpAdapter;
  const ack = channel.ack.bind(channel);
  channel.ack = (message, allUpTo) => {
    ack(message, allUpTo);
    acked();
  };
}

/**
 * Gives the publisher's adapter a confirm channel on its connection and returns `confirmed(id)`:
 * a promise that settles with the confirm of the message published with that correlationId.
 */
async function confirmChannel(publisher: ChannelsBroker): Promise<(id: string) => Promise<void>> {
  const adapter = publisher.channelAdapter as AmqpAdapter;
  const confirms = await adapter.connection.createConfirmChannel();
  const waiting = new Map<string, (err: unknown) => void>();
  const publish = confirms.publish.bind(confirms);
  confirms.publish = (exchange, routingKey, content, options) =>
    publish(exchange, routingKey, content, options, (err: unknown) => {
      const id = String(options?.correlationId);
      waiting.get(id)?.(err);
      waiting.delete(id);
    });
  adapter.channel = confirms;
  return (id) =>
    new Promise<void>((resolve, reject) => {
      waiting.set(id, (err) => (err ? reject(err) : resolve()));
    });
}

/** Runs `work` on a channel of a connection of its own (checks and cleanup, outside the timing). */
async function withChannel(work: (ch: amqplib.Channel) => Promise<void>): Promise<void> {
  const conn = await amqplib.connect(URL_);
  try {
    await work(await conn.createChannel());
  } finally {
    await conn.close().catch(() => undefined);
  }
}

await compare(
  [
    {
      label: RAW,
      perMessage:
        "publish: persistent, mandatory, messageId, default exchange to a durable classic queue on a confirm channel, awaits its confirm; consume: prefetch 100, JSON.parse, basic.ack",
      run: (round, n) => raw(round, n, false),
    },
    {
      label: RAW_CORKED,
      perMessage: "as the raw amqplib row, with each pass of its frames in one socket write",
      run: (round, n) => raw(round, n, true),
    },
    {
      label: FLOTILLA,
      perMessage:
        "emit: persistent, mandatory, messageId, durable direct exchange to the group's durable classic queue, resolves on its confirm; consume: concurrency 100 (prefetch), ack after the handler",
      run: flotilla,
    },
    {
      label: MOLECULER,
      perMessage:
        "sendToChannel: persistent, correlationId, durable fanout exchange to the group's durable classic queue; awaits its confirm (a confirm channel given to the adapter by the bench: as shipped it publishes without confirms); consume: maxInFlight 100 (prefetch), ack after the handler",
      run: moleculer,
    },
  ],
  {
    bench: "durable-events-amqp",
    flotilla: FLOTILLA,
    extra: {
      prefetch: PREFETCH,
      setup:
        "publisher and consumer in one process, each on its own connection; RabbitMQ on the same machine; end to end from the first publish to the last ack; each row the median of interleaved rounds with min and max beside it",
    },
  },
);
