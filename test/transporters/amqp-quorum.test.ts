import amqplib from "amqplib";
import { describe, expect, it } from "vitest";
import { durableNames } from "../../src/transporters/amqp/durable-queues.js";
import { durableNodes, type Log, recorder } from "../events/durable/kit.js";
import { deleteAmqpNamespace } from "../events/durable/servers.js";
import { onSharedServer, runDurableConformance, SUITE_GROUPS } from "../events/durable/suite.js";
import { SHARED, until } from "../harness/index.js";

// Durable events on quorum queues (`amqp://…?queueType=quorum`), the queue type RabbitMQ
// replicates over a cluster. The local RabbitMQ is one node, which quorum queues work on as
// well: the whole durable conformance suite runs on them, then what is particular to them.

const url = SHARED.rabbitmq.url;
const QUORUM = "?queueType=quorum";

/** The groups the suite's scenarios declare, per stream, to delete afterwards. */

runDurableConformance({
  name: "amqp, quorum queues",
  ...onSharedServer("rabbitmq", { query: QUORUM, restart: { down: "stop" } }),
  async cleanup(namespaces) {
    for (const ns of namespaces) await deleteAmqpNamespace(url, ns, SUITE_GROUPS);
  },
});

/**
 * The type of an existing queue, as RabbitMQ answers a declaration: one with `x-queue-type:
 * quorum` is taken by a quorum queue and refused (PRECONDITION_FAILED) by a classic one.
 */
async function queueType(queue: string): Promise<"quorum" | "classic"> {
  const conn = await amqplib.connect(url);
  conn.on("error", () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    await ch.checkQueue(queue); // fails (404) when there is no such queue
    const quorum = { durable: true, arguments: { "x-queue-type": "quorum" } };
    return await ch.assertQueue(queue, quorum).then(
      () => "quorum" as const,
      (err: unknown) => {
        if (/PRECONDITION_FAILED/.test(String(err))) return "classic" as const;
        throw err;
      },
    );
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe("quorum queues on amqp://", () => {
  const declared = new Map<string, Record<string, string[]>>();
  const { node, namespace } = durableNodes(
    () => `${url}${QUORUM}`,
    async (namespaces) => {
      for (const ns of namespaces) await deleteAmqpNamespace(url, ns, declared.get(ns) ?? {});
    },
  );
  const namespaceWith = (tag: string, groups: Record<string, string[]>) => {
    const ns = namespace(tag);
    declared.set(ns, groups);
    return ns;
  };

  it("holds each group's events and the dead letters in quorum queues", async () => {
    const ns = namespaceWith("type", { "order.placed": ["mailer"] });
    const log: Log = [];
    const consumer = node(ns, [recorder("mailer", "order.placed", log)]);
    await consumer.start();
    await consumer.emit("order.placed", { orderId: 1 }, { durable: true });
    await until(() => log.length === 1, { message: "the delivery" });
    const names = durableNames("flotilla", ns);
    expect(await queueType(names.group("order.placed", "mailer"))).toBe("quorum");
    expect(await queueType(names.deadLetters)).toBe("quorum");
  });

  it("a namespace whose queues are classic: asking for quorum fails the start, saying how to switch", async () => {
    const ns = namespaceWith("switch", { "order.placed": ["mailer"] });
    const log: Log = [];
    const classic = node(ns, [recorder("mailer", "order.placed", log)], { transporter: url });
    await classic.start();
    await classic.stop();
    expect(await queueType(durableNames("flotilla", ns).deadLetters)).toBe("classic");
    const quorum = node(ns, [recorder("mailer", "order.placed", log)]);
    const err = await quorum.start().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "INVALID_TRANSPORTER_URL",
      data: { queueType: "quorum" },
      message: expect.stringContaining("a queue keeps the type it was made with"),
    });
    // Nothing was changed on the server: the classic queues are as they were.
    expect(await queueType(durableNames("flotilla", ns).group("order.placed", "mailer"))).toBe(
      "classic",
    );
  });

  it("a queue type RabbitMQ does not have for durable events is refused", async () => {
    const broker = node(namespace("bad-type"), [], { transporter: `${url}?queueType=stream` });
    await expect(broker.start()).rejects.toMatchObject({
      code: "INVALID_TRANSPORTER_URL",
      message: expect.stringContaining("queueType must be classic or quorum"),
    });
  });
});
