// Durable events on Redis Streams: publish-with-confirm to consume-with-ack throughput, end to
// end (first publish to last ack), N messages with up to 100 publishes in flight and up to 100
// messages in hand, publisher and consumer in this process on connections of their own. The
// shared Redis has no persistence (no AOF, no RDB): the same for every contender. What each
// contender does per message (also in the results' `perMessage`):
//   (a) raw ioredis, the floor: XADD NOMKSTREAM with an id (UUID) and the JSON (the reply is the
//       confirm); XREADGROUP COUNT (100 − in hand) BLOCK on a connection of its own, XACK per
//       message on a third, not waiting for one XACK before the next. Plain, and with each burst
//       of commands corked into one socket write, as redis:// does;
//   (b) Flotilla durable events on redis:// (an emitter node and a consumer node, concurrency
//       100): XADD NOMKSTREAM with an id and the data, `emit` resolving on its reply; a group
//       member reading with XREADGROUP (the stream and its retry stream) on a connection of its
//       own, XACK after the handler;
//   (c) moleculer-channels' Redis adapter (two Moleculer brokers): XADD with the JSON only (no
//       id field; the adapter has no message id), `sendToChannel` resolving on its reply;
//       XREADGROUP BLOCK COUNT (100 − in hand, maxInFlight) on a connection per subscription,
//       the handlers of a batch run together, then their XACKs are sent one after another, each
//       awaited, on the consumer broker's publishing connection. What differs: those serial
//       XACKs; a new read waits 10 ms when 100 are in hand; and its background XAUTOCLAIM every
//       100 ms and XPENDING every second (both find nothing here).
// Each round makes fresh stream keys (named after the pid and round) and deletes them.
// Run: node --import tsx bench/durable-events/redis.ts   (results in bench/results/durable-events-redis.json)
// Needs Redis on 127.0.0.1:6379. BENCH_N: messages per round (default 20000); BENCH_ROUNDS:
// interleaved rounds, each row reports its median and min–max (default 5); BENCH_RESULTS_DIR:
// where the results file goes instead (for trial runs).
import { randomUUID } from "node:crypto";
import { defineService, ServiceBroker } from "flotilla";
import { Redis } from "ioredis";
import { deleteRedisNamespace } from "../../test/events/durable/servers.js";
import { compare, counter, payload, publishAll } from "./lib.js";
import { CHANNEL, type ChannelsBroker, GROUP, runChannels } from "./moleculer-channels.js";

const PORT = Number(process.env.REDIS_PORT ?? 6379);
const URL_ = `redis://127.0.0.1:${PORT}`;
const IN_HAND = 100;

const RAW = "raw ioredis (XADD, XREADGROUP + XACK)";
const RAW_CORKED = "raw ioredis, writes coalesced";
const FLOTILLA = "flotilla durable events, redis://";
const MOLECULER = "moleculer-channels Redis Streams";

function connect(): Redis {
  return new Redis({ host: "127.0.0.1", port: PORT, maxRetriesPerRequest: 0 });
}

/**
 * ioredis writes each command with its own `socket.write()`; corking the socket until the
 * current microtasks are done sends a burst in one write (what redis:// does).
 */
function corked(redis: Redis): Redis {
  let held = false;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (...args: Parameters<Redis["sendCommand"]>) => {
    if (!held && redis.status === "ready") {
      held = true;
      redis.stream.cork();
      queueMicrotask(() => {
        held = false;
        redis.stream.uncork();
      });
    }
    return send(...args);
  };
  return redis;
}

/** (a) The floor: what ioredis and Redis Streams do with nothing on top. */
async function raw(round: string, n: number, cork = false): Promise<number> {
  const key = `bench:durable:raw:${process.pid}:${round}:${cork ? "c" : "p"}`;
  const wrap = cork ? corked : (r: Redis) => r;
  const [pub, reader, acker] = [wrap(connect()), connect(), wrap(connect())];
  try {
    await pub.xgroup("CREATE", key, "sink", "$", "MKSTREAM");
    const acks = counter(n);
    let inHand = 0;
    let received = 0;
    let wake: (() => void) | undefined;
    const consume = async () => {
      while (received < n) {
        if (inHand >= IN_HAND) {
          await new Promise<void>((r) => {
            wake = r;
          });
          continue;
        }
        const reply = (await reader.callBuffer(
          ...["XREADGROUP", "GROUP", "sink", "c1", "COUNT", IN_HAND - inHand, "BLOCK", 1000],
          ...["STREAMS", key, ">"],
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
        for (const [, entries] of reply ?? []) {
          for (const [entryID, fields] of entries) {
            received++;
            inHand++;
            JSON.parse((fields[3] ?? Buffer.from("null")).toString());
            void acker.xack(key, "sink", entryID).then(() => {
              inHand--;
              wake?.();
              wake = undefined;
              acks.done();
            });
          }
        }
      }
    };
    const consuming = consume();
    const started = performance.now();
    await publishAll(n, () =>
      pub.xadd(key, "NOMKSTREAM", "*", "id", randomUUID(), "data", JSON.stringify(payload)),
    );
    const ended = await acks.all;
    await consuming;
    return Math.round((n * 1000) / (ended - started));
  } finally {
    await pub.del(key).catch(() => undefined);
    for (const c of [pub, reader, acker]) c.disconnect();
  }
}

/** (b) Flotilla: `emit` resolves on XADD's reply; the consumer acks after its handler. */
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
        "order.placed": { durable: true, concurrency: IN_HAND, handler: () => acks.done() },
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
    await deleteRedisNamespace(namespace, PORT);
  }
}

/**
 * (c) moleculer-channels: `sendToChannel` on one broker, a `channels` handler on the other. Its
 * acks are counted as their XACK replies arrive on the consumer adapter's publishing connection.
 */
async function moleculer(round: string, n: number): Promise<number> {
  const namespace = `bench-mc-${process.pid}-${round}`;
  // The adapter's stream key: the channel prefixed with the namespace.
  const key = `${namespace}.${CHANNEL}`;
  return runChannels(
    {
      namespace,
      adapter: { type: "Redis", options: { maxInFlight: IN_HAND, redis: { url: URL_ } } },
      wire: async (publisher, consumer, acked) => {
        countAcks(consumer, acked);
        return { publish: () => publisher.sendToChannel(CHANNEL, payload) };
      },
      check: (count) =>
        withRedis(async (redis) => {
          const stored = await redis.xlen(key);
          const [pending] = (await redis.xpending(key, GROUP)) as [number, ...unknown[]];
          if (stored !== count || pending !== 0) {
            throw new Error(
              `moleculer-channels Redis: ${stored} of ${count} stored, ${pending} not acked`,
            );
          }
        }),
      cleanup: () =>
        withRedis(async (redis) => {
          await redis.del(key);
        }),
    },
    n,
  );
}

/** Counts the consumer adapter's XACKs (sent on its client named "Pub") as Redis answers them. */
function countAcks(consumer: ChannelsBroker, acked: () => void): void {
  const { clients } = consumer.channelAdapter as { clients: Map<string, Redis> };
  const pub = clients.get("Pub");
  if (pub === undefined) throw new Error("moleculer-channels Redis: no publishing client");
  const xack = pub.xack.bind(pub);
  pub.xack = ((...args: Parameters<Redis["xack"]>) => {
    const reply = xack(...args);
    reply.then(acked, () => undefined);
    return reply;
  }) as Redis["xack"];
}

/** Runs `work` with a client of its own (checks and cleanup, outside the timing). */
async function withRedis(work: (redis: Redis) => Promise<void>): Promise<void> {
  const redis = connect();
  try {
    await work(redis);
  } finally {
    redis.disconnect();
  }
}

await compare(
  [
    {
      label: RAW,
      perMessage:
        "XADD NOMKSTREAM id + data, awaits the reply; XREADGROUP COUNT ≤100 BLOCK on its own connection; XACK per message on a third connection, pipelined",
      run: (round, n) => raw(round, n, false),
    },
    {
      label: RAW_CORKED,
      perMessage: "as the raw ioredis row, with each burst of commands in one socket write",
      run: (round, n) => raw(round, n, true),
    },
    {
      label: FLOTILLA,
      perMessage:
        "emit: XADD NOMKSTREAM id + data, awaits the reply; consume: XREADGROUP (stream + retry stream) on its own connection, concurrency 100, XACK after the handler",
      run: flotilla,
    },
    {
      label: MOLECULER,
      perMessage:
        "sendToChannel: XADD payload (no id), awaits the reply; consume: XREADGROUP BLOCK COUNT ≤100 (maxInFlight) on its own connection, a batch's handlers together, then one awaited XACK after another; XAUTOCLAIM every 100 ms, XPENDING every 1 s in the background",
      run: moleculer,
    },
  ],
  {
    bench: "durable-events-redis",
    flotilla: FLOTILLA,
    extra: {
      inHand: IN_HAND,
      setup:
        "publisher and consumer in one process, each on its own connections; Redis 7 on the same machine (no persistence: the shared server); end to end from the first publish to the last ack; each row the median of interleaved rounds with min and max beside it",
    },
  },
);
