// Durable events on NATS JetStream: publish-with-ack to consume-with-ack throughput, end to end
// (first publish to last ack), N messages with up to 100 publishes in flight and up to 100
// messages in the consumer's hands, publisher and consumer in this process on connections of
// their own, one file-storage stream:
//   (a) raw @nats-io/jetstream: publish awaiting each PubAck (with a Nats-Msg-Id, as Flotilla
//       sends), a durable pull consumer with explicit acks read by `consume()` (the floor);
//   (b) Flotilla durable events on nats:// (an emitter node and a consumer node, concurrency 100);
//   (c) moleculer-channels' NATS adapter, when installed (it is not here: its published figure is
//       reported instead, marked as not run).
// Run: node --import tsx bench/durable-events/nats.ts   (results in bench/results/durable-events-nats.json)
// Needs nats-server with JetStream on 127.0.0.1:4222. BENCH_N: messages per round (default
// 20000); BENCH_ROUNDS: interleaved rounds, each row reports its median (default 5).
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

const SERVER = process.env.NATS_SERVER ?? "127.0.0.1:4222";
const CONCURRENCY = 100;

const RAW = "raw @nats-io/jetstream (PubAck + explicit ack)";
const FLOTILLA = "flotilla durable events, nats://";
const MOLECULER = "moleculer-channels JetStream (published, i7; not run)";
/** moleculer-channels' published benchmark (quoted in issue 5): JetStream, 100 in flight, i7. */
const MOLECULER_PUBLISHED = 646;

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

const admin = await JetStreamAdmin.open(SERVER);
await compare(
  [
    [RAW, raw],
    [FLOTILLA, (round, n) => flotilla(round, n, admin)],
  ],
  {
    bench: "durable-events-nats",
    flotilla: FLOTILLA,
    moleculer: { label: MOLECULER, published: MOLECULER_PUBLISHED },
    extra: {
      concurrency: CONCURRENCY,
      setup:
        "publisher and consumer in one process, each on its own connection; nats-server 2.9 with JetStream (file storage) on the same machine; end to end from the first publish to the last ack; each row the median of interleaved rounds",
    },
  },
);
await admin.close();
