// Durable events on RabbitMQ: publish-with-confirm to consume-with-ack throughput, end to end
// (first publish to last ack), N messages with up to 100 publishes in flight and a prefetch of
// 100, publisher and consumer in this process on connections of their own:
//   (a) raw amqplib: confirm channel, persistent messages, durable queue, manual acks (the floor);
//       plain, and with its frames corked into one socket write per pass, as amqp:// does;
//   (b) Flotilla durable events on amqp:// (an emitter node and a consumer node);
//   (c) moleculer-channels' AMQP adapter, when installed (it is not here: its published figure is
//       reported instead, marked as not run).
// Run: node --import tsx bench/durable-events/amqp.ts   (results in bench/results/durable-events-amqp.json)
// Needs RabbitMQ on 127.0.0.1:5672 (guest/guest). BENCH_N: messages per round (default 20000);
// BENCH_ROUNDS: interleaved rounds, each row reports its median (default 5).
import { randomUUID } from "node:crypto";
import amqplib from "amqplib";
import { defineService, ServiceBroker } from "flotilla";
import { deleteAmqpNamespace } from "../../test/events/durable/servers.js";
import { compare, counter, payload, publishAll } from "./lib.js";

const URL_ = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const PREFETCH = 100;

const RAW = "raw amqplib (confirm + manual ack)";
const RAW_CORKED = "raw amqplib, writes coalesced";
const FLOTILLA = "flotilla durable events, amqp://";
const MOLECULER = "moleculer-channels AMQP (published, i7; not run)";
/** moleculer-channels' published benchmark (quoted in issue 5): AMQP adapter, 100 in flight, i7. */
const MOLECULER_PUBLISHED = 21_000;

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

await compare(
  [
    [RAW, (round, n) => raw(round, n, false)],
    [RAW_CORKED, (round, n) => raw(round, n, true)],
    [FLOTILLA, flotilla],
  ],
  {
    bench: "durable-events-amqp",
    flotilla: FLOTILLA,
    moleculer: { label: MOLECULER, published: MOLECULER_PUBLISHED },
    extra: {
      prefetch: PREFETCH,
      setup:
        "publisher and consumer in one process, each on its own connection; RabbitMQ on the same machine; end to end from the first publish to the last ack; each row the median of interleaved rounds",
    },
  },
);
