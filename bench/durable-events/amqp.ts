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
import { deleteDurableNamespace } from "../../test/events/fixtures/amqp-helpers.js";
import { type Row, report } from "../lib.js";

const URL_ = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const N = Number(process.env.BENCH_N ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const IN_FLIGHT = 100;
const PREFETCH = 100;
const payload = { orderId: 7, sku: "A-1", qty: 2 };

const RAW = "raw amqplib (confirm + manual ack)";
const RAW_CORKED = "raw amqplib, writes coalesced";
const FLOTILLA = "flotilla durable events, amqp://";
const MOLECULER = "moleculer-channels AMQP (published, i7; not run)";
/** moleculer-channels' published benchmark (quoted in issue 5): AMQP adapter, 100 in flight, i7. */
const MOLECULER_PUBLISHED = 21_000;

/** Runs `publish(i)` for i < n with at most IN_FLIGHT in flight. */
async function publishAll(n: number, publish: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < n) await publish(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
}

/** A promise that resolves when `done()` has been called n times, with the time of the last. */
function counter(n: number): { done: () => void; all: Promise<number> } {
  let count = 0;
  let resolve!: (at: number) => void;
  const all = new Promise<number>((r) => {
    resolve = r;
  });
  return {
    done: () => {
      if (++count === n) resolve(performance.now());
    },
    all,
  };
}

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
    await deleteDurableNamespace(URL_, namespace, { "order.placed": ["sink"] });
  }
}

/** (c) moleculer-channels, when it is installed (this repository does not depend on it). */
async function moleculerChannelsInstalled(): Promise<boolean> {
  try {
    // A variable specifier: the package is optional and has no types here.
    const name = "@moleculer/channels";
    await import(name);
    return true;
  } catch {
    return false;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] ?? 0);
};

const samples: Record<string, number[]> = { [RAW]: [], [RAW_CORKED]: [], [FLOTILLA]: [] };
const contenders = [
  [RAW, (round: string, n: number) => raw(round, n, false)],
  [RAW_CORKED, (round: string, n: number) => raw(round, n, true)],
  [FLOTILLA, flotilla],
] as const;
// A warm-up of each, not measured (JIT, RabbitMQ's queue processes); then rounds that interleave
// the contenders, and medians, so a burst of noise on this shared machine decides nothing.
for (const [, run] of contenders) await run("warm-up", Math.min(N, 5_000));
for (let r = 0; r < ROUNDS; r++) {
  for (const [label, run] of contenders) {
    const opsPerSec = await run(String(r), N);
    samples[label]?.push(opsPerSec);
    console.log(`  round ${r + 1}: ${label.padEnd(48)} ${opsPerSec} msg/s`);
  }
}
const installed = await moleculerChannelsInstalled();
if (installed) console.log("  @moleculer/channels is installed, but no run is wired here yet.");

const rows: Row[] = [
  { name: RAW, inFlight: IN_FLIGHT, opsPerSec: median(samples[RAW] ?? []) },
  { name: RAW_CORKED, inFlight: IN_FLIGHT, opsPerSec: median(samples[RAW_CORKED] ?? []) },
  { name: FLOTILLA, inFlight: IN_FLIGHT, opsPerSec: median(samples[FLOTILLA] ?? []) },
  { name: MOLECULER, inFlight: IN_FLIGHT, opsPerSec: MOLECULER_PUBLISHED },
];
const ratio = (a: string, b: string) => {
  const x = rows.find((r) => r.name === a)?.opsPerSec ?? 0;
  const y = rows.find((r) => r.name === b)?.opsPerSec ?? 0;
  return y === 0 ? null : +(x / y).toFixed(2);
};
report("durable-events-amqp", rows, {
  messages: N,
  rounds: ROUNDS,
  prefetch: PREFETCH,
  setup:
    "publisher and consumer in one process, each on its own connection; RabbitMQ on the same machine; end to end from the first publish to the last ack; each row the median of interleaved rounds",
  samples,
  ratios: {
    flotillaVsRaw: ratio(FLOTILLA, RAW),
    flotillaVsRawCoalesced: ratio(FLOTILLA, RAW_CORKED),
    flotillaVsMoleculerChannelsPublished: ratio(FLOTILLA, MOLECULER),
  },
  moleculerChannels: {
    run: false,
    installed,
    reason:
      "@moleculer/channels (0.1.8 on npm) is not in node_modules and this task may not npm install it",
    published: {
      opsPerSec: MOLECULER_PUBLISHED,
      machine: "i7",
      inFlight: 100,
      source: "its README",
    },
  },
});
