// Durable events on NATS JetStream: publish-with-ack to consume-with-ack throughput, end to end
// (first publish to last ack), N messages with up to 100 publishes in flight and up to 100
// messages in the consumer's hands, publisher and consumer in this process on connections of
// their own, one file-storage stream with interest retention (a message is dropped once acked)
// and the server's default 2-minute duplicate window. What each contender does per message (also
// in the results' `perMessage`):
//   (a) raw @nats-io/jetstream, the floor: publish with a Nats-Msg-Id and one header, awaiting
//       the PubAck; a durable pull consumer with explicit acks read by `consume()` (100 at a
//       time), parsing the JSON and acking;
//   (b) Flotilla durable events on nats:// (an emitter node and a consumer node, concurrency 100):
//       `emit` awaits the PubAck (Nats-Msg-Id and headers); a durable pull consumer with explicit
//       acks (fetch), acking after the handler;
//   (c) moleculer-channels' NATS adapter (two Moleculer brokers, the `nats` v2 client):
//       `sendToChannel` awaits the PubAck; given a msgID per message (an option it passes
//       through), so the server does the same duplicate tracking; the stream is set to file
//       storage and interest retention through its `streamConfig` (its default retention keeps
//       every message); a durable push consumer with a deliver group, explicit acks and
//       max_ack_pending 100 (maxInFlight). What differs: before each handler it sends a
//       "working" (+WPI) for the message, one more message to the server per message than (a)
//       and (b); a push consumer, where (a) and (b) pull.
// Each round makes fresh streams (named after the pid and round) and deletes them.
// Run: node --import tsx bench/durable-events/nats.ts   (results in bench/results/durable-events-nats.json)
// Needs nats-server with JetStream on 127.0.0.1:4222. BENCH_N: messages per round (default
// 20000); BENCH_ROUNDS: interleaved rounds, each row reports its median and min–max (default 5);
// BENCH_RESULTS_DIR: where the results file goes instead (for trial runs).
import { randomUUID } from "node:crypto";
import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { defineService, ServiceBroker } from "flotilla";
import { JetStreamAdmin } from "../../test/events/durable/servers.js";
import { compare, counter, payload, publishAll } from "./lib.js";
import { CHANNEL, eventually, GROUP, runChannels } from "./moleculer-channels.js";

const SERVER = process.env.NATS_SERVER ?? "127.0.0.1:4222";
const CONCURRENCY = 100;

const RAW = "raw @nats-io/jetstream (PubAck + explicit ack)";
const FLOTILLA = "flotilla durable events, nats://";
const MOLECULER = "moleculer-channels JetStream";

/** (a) The floor: the JetStream client and server with nothing on top. */
async function raw(round: string, n: number): Promise<number> {
  const stream = `BENCH_RAW_${process.pid}_${round.replace(/\W/g, "_")}`;
  const subject = `bench.${stream}.order`;
  const pubConn = await connect({ servers: SERVER });
  const subConn = await connect({ servers: SERVER });
  const jsm = await jetstreamManager(subConn);
  try {
    await jsm.streams.add({
      name: stream,
      subjects: [`bench.${stream}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Interest,
    });
    await jsm.consumers.add(stream, {
      durable_name: "sink",
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 10_000,
    });
    const consumer = await jsm.jetstream().consumers.get(stream, "sink");
    const acks = counter(n);
    const messages = await consumer.consume({
      max_messages: CONCURRENCY,
      callback: (m) => {
        JSON.parse(new TextDecoder().decode(m.data));
        m.ack();
        acks.done();
      },
    });
    const js = (await jetstreamManager(pubConn)).jetstream();
    const started = performance.now();
    await publishAll(n, () => {
      const h = headers();
      const id = randomUUID();
      h.set("Flotilla-Id", id);
      return js.publish(subject, JSON.stringify(payload), { msgID: id, headers: h });
    });
    const ended = await acks.all;
    await messages.close();
    return Math.round((n * 1000) / (ended - started));
  } finally {
    await jsm.streams.delete(stream).catch(() => false);
    await pubConn.close();
    await subConn.close();
  }
}

/** (b) Flotilla: `emit` resolves on the PubAck; the consumer acks after its handler. */
async function flotilla(round: string, n: number, admin: JetStreamAdmin): Promise<number> {
  const namespace = `bench-durable-${process.pid}-${round}`;
  const transporter = `nats://${SERVER}`;
  const acks = counter(n);
  const consumer = new ServiceBroker({ namespace, logger: false, transporter });
  consumer.createService(
    defineService({
      name: "sink",
      events: {
        "order.placed": { durable: true, concurrency: CONCURRENCY, handler: () => acks.done() },
      },
    }),
  );
  const emitter = new ServiceBroker({ namespace, logger: false, transporter });
  try {
    await Promise.all([consumer.start(), emitter.start()]);
    const started = performance.now();
    await publishAll(n, () => emitter.emit("order.placed", payload, { durable: true }));
    const ended = await acks.all;
    return Math.round((n * 1000) / (ended - started));
  } finally {
    await Promise.allSettled([emitter.stop(), consumer.stop()]);
    await admin.deleteNamespaces([namespace]);
  }
}

/**
 * (c) moleculer-channels: `sendToChannel` on one broker, a `channels` handler on the other; its
 * acks are counted by wrapping each received message's `ack`, which the adapter calls after the
 * handler.
 */
async function moleculer(round: string, n: number, admin: JetStreamAdmin): Promise<number> {
  const namespace = `bench-mc-${process.pid}-${round}`;
  // The adapter's names: the channel prefixed with the namespace, dots made underscores.
  const stream = `${namespace}.${CHANNEL}`.replaceAll(".", "_");
  return runChannels(
    {
      namespace,
      adapter: {
        type: "NATS",
        options: {
          maxInFlight: CONCURRENCY,
          nats: {
            url: `nats://${SERVER}`,
            streamConfig: { storage: "file", retention: "interest" },
          },
        },
      },
      wire: async (publisher, _consumer, acked) => ({
        publish: () => publisher.sendToChannel(CHANNEL, payload, { msgID: randomUUID() }),
        onMessage: (raw) => {
          const m = raw as { ack(): void };
          const ack = m.ack.bind(m);
          m.ack = () => {
            ack();
            acked();
          };
        },
      }),
      check: async (count) => {
        const info = await admin.jsm.streams.info(stream);
        if (info.state.last_seq !== count) {
          throw new Error(
            `moleculer-channels JetStream: ${info.state.last_seq} of ${count} stored`,
          );
        }
        // Its durable consumer outlives the subscription: everything delivered, all acked.
        await eventually(
          `expected ${GROUP}'s ${count} messages delivered and acked`,
          () => admin.jsm.consumers.info(stream, GROUP),
          (c) => c.num_pending === 0 && c.num_ack_pending === 0 && c.ack_floor.stream_seq === count,
        );
      },
      cleanup: () =>
        admin.jsm.streams.delete(stream).then(
          () => undefined,
          () => undefined,
        ),
    },
    n,
  );
}

const admin = await JetStreamAdmin.open(SERVER);
await compare(
  [
    {
      label: RAW,
      perMessage:
        "publish: Nats-Msg-Id + 1 header, awaits the PubAck; file storage, interest retention; consume: durable pull consumer, explicit ack, consume() with max_messages 100, JSON parse, ack",
      run: raw,
    },
    {
      label: FLOTILLA,
      perMessage:
        "emit: Nats-Msg-Id + headers, awaits the PubAck; file storage, interest retention; consume: durable pull consumer (fetch), explicit ack, concurrency 100, ack after the handler",
      run: (round, n) => flotilla(round, n, admin),
    },
    {
      label: MOLECULER,
      perMessage:
        "sendToChannel: msgID (Nats-Msg-Id), awaits the PubAck; file storage, interest retention (set by the bench: its default is limits); consume: durable push consumer with a deliver group, explicit ack, max_ack_pending 100, a 'working' (+WPI) sent before the handler and the ack after",
      run: (round, n) => moleculer(round, n, admin),
    },
  ],
  {
    bench: "durable-events-nats",
    flotilla: FLOTILLA,
    extra: {
      concurrency: CONCURRENCY,
      setup:
        "publisher and consumer in one process, each on its own connection; nats-server 2.9 with JetStream (file storage) on the same machine; end to end from the first publish to the last ack; each row the median of interleaved rounds with min and max beside it",
    },
  },
);
await admin.close();
