// What durable events leave on each message broker, to read and to delete after a test (and
// after a benchmark run: bench/durable-events/ uses these too, so nothing here needs vitest).
// The servers themselves (up or down, private ones to kill) are the harness's: ../../harness/.
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import amqplib from "amqplib";
import { Redis } from "ioredis";
import { durableNames as amqpNames } from "../../../src/transporters/amqp/durable-queues.js";
import { durableNames as natsNames } from "../../../src/transporters/nats/durable-names.js";
import { streamKeys } from "../../../src/transporters/redis/stream-keys.js";
import { SHARED } from "../../harness/index.js";

/** Every delay-queue bucket the amqp transporter can use (half-octave steps). */
const BUCKETS = [...new Set(Array.from({ length: 63 }, (_, k) => Math.round(2 ** (k / 2))))].filter(
  (b) => b < 2 ** 31,
);

/**
 * Deletes every queue and exchange durable events declared on RabbitMQ for `namespace`: the
 * group queues of `groups` (stream -> groups), the delay queues, the dead-letter queue and both
 * exchanges.
 */
export async function deleteAmqpNamespace(
  url: string,
  namespace: string,
  groups: Record<string, readonly string[]>,
  exchange = "flotilla",
): Promise<void> {
  const names = amqpNames(exchange, namespace);
  const conn = await amqplib.connect(url);
  conn.on("error", () => undefined);
  try {
    const ch = await conn.createChannel();
    for (const [stream, list] of Object.entries(groups)) {
      for (const group of list) await ch.deleteQueue(names.group(stream, group));
    }
    for (const bucket of BUCKETS) await ch.deleteQueue(names.delay(bucket));
    await ch.deleteQueue(names.deadLetters);
    await ch.deleteExchange(names.events);
    await ch.deleteExchange(names.retry);
    await ch.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** A management connection to JetStream, to look at what durable events left and remove it. */
export class JetStreamAdmin {
  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
  ) {}

  static async open(server = `127.0.0.1:${SHARED.nats.port}`): Promise<JetStreamAdmin> {
    const nc = await connect({ servers: server });
    return new JetStreamAdmin(nc, await jetstreamManager(nc));
  }

  /** The group's consumer: messages not yet delivered, and delivered but not yet acked. */
  async consumer(namespace: string, event: string, group: string) {
    const names = natsNames(namespace);
    const info = await this.jsm.consumers.info(names.stream, names.consumer(event, group));
    return { pending: info.num_pending, unacked: info.num_ack_pending, config: info.config };
  }

  /** Deletes the namespaces' streams (with their consumers); those never made are skipped. */
  async deleteNamespaces(namespaces: Iterable<string>): Promise<void> {
    for (const namespace of namespaces) {
      const names = natsNames(namespace);
      for (const stream of [names.stream, names.deadLetterStream]) {
        await this.jsm.streams.delete(stream).catch(() => false);
      }
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

/** Deletes what durable events left on the shared JetStream for `namespaces`. */
export async function deleteNatsNamespaces(namespaces: Iterable<string>): Promise<void> {
  const admin = await JetStreamAdmin.open();
  try {
    await admin.deleteNamespaces(namespaces);
  } finally {
    await admin.close();
  }
}

/** Runs `work` with a plain client of the Redis on `port`, then closes it. */
export async function withRedis<T>(
  work: (redis: Redis) => Promise<T>,
  port: number = SHARED.redis.port,
): Promise<T> {
  const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key durable events made in Redis for `namespace`. */
export async function deleteRedisNamespace(
  namespace: string,
  port: number = SHARED.redis.port,
): Promise<void> {
  await withRedis(async (redis) => {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", streamKeys(namespace).pattern);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  }, port);
}

/** Deletes what durable events left on the shared Redis for `namespaces`. */
export async function deleteRedisNamespaces(namespaces: Iterable<string>): Promise<void> {
  for (const namespace of namespaces) await deleteRedisNamespace(namespace);
}
