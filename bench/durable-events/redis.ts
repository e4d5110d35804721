// Durable events on Redis Streams: publish-with-confirm to consume-with-ack throughput, end to
// end (first publish to last ack), N messages with up to 100 publishes in flight and up to 100
// messages in hand, publisher and consumer in this process on connections of their own:
//   (a) raw ioredis: XADD (the reply is the confirm), XREADGROUP BLOCK on a connection of its
//       own, XACK per message on a third (the floor); plain, and with each burst of commands
//       corked into one socket write, as redis:// does;
//   (b) Flotilla durable events on redis:// (an emitter node and a consumer node);
//   (c) moleculer-channels' Redis adapter, when installed (it is not here: its published figure
//       is reported instead, marked as not run).
// Run: node --import tsx bench/durable-events/redis.ts   (results in bench/results/durable-events-redis.json)
// Needs Redis on 127.0.0.1:6379. BENCH_N: messages per round (default 20000); BENCH_ROUNDS:
// interleaved rounds, each row reports its median (default 5).
import { randomUUID } from "node:crypto";
import { defineService, ServiceBroker } from "flotilla";
import { Redis } from "ioredis";
import { deleteRedisNamespace } from "../../test/events/durable/servers.js";
import { compare, counter, payload, publishAll } from "./lib.js";

const PORT = Number(process.env.REDIS_PORT ?? 6379);
const URL_ = `redis://127.0.0.1:${PORT}`;
const IN_HAND = 100;

const RAW = "raw ioredis (XADD, XREADGROUP + XACK)";
const RAW_CORKED = "raw ioredis, writes coalesced";
const FLOTILLA = "flotilla durable events, redis://";
const MOLECULER = "moleculer-channels Redis (published, i7; not run)";
/** moleculer-channels' published benchmark (quoted in issue 5): Redis adapter, 100 in flight, i7. */
const MOLECULER_PUBLISHED = 4_000;

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

await compare(
  [
    [RAW, (round, n) => raw(round, n, false)],
    [RAW_CORKED, (round, n) => raw(round, n, true)],
    [FLOTILLA, flotilla],
  ],
  {
    bench: "durable-events-redis",
    flotilla: FLOTILLA,
    moleculer: { label: MOLECULER, published: MOLECULER_PUBLISHED },
    extra: {
      inHand: IN_HAND,
      setup:
        "publisher and consumer in one process, each on its own connections; Redis 7 on the same machine (no persistence: the shared server); end to end from the first publish to the last ack; each row the median of interleaved rounds",
    },
  },
);
