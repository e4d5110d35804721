import { type Context, defineService, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";

// An event emitted with a message ID (the outbox gives each row's) reaches its durable handler
// with that ID on every transport, so a re-published event is recognised as the same one.
const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((b) => b.stop()));
});

function recorder(seen: (string | undefined)[]) {
  return defineService({
    name: "ledger",
    events: {
      "payment.taken": {
        durable: true,
        handler(ctx: Context) {
          seen.push(ctx.messageID);
        },
      },
      "payment.noted": {
        handler(ctx: Context) {
          seen.push(`plain:${ctx.messageID}`);
        },
      },
    },
  });
}

function node(transporter: string | undefined, services: ReturnType<typeof recorder>[] = []) {
  const broker = new ServiceBroker({
    nodeID: `mid-${Math.random().toString(36).slice(2, 8)}`,
    logger: false,
    ...(transporter === undefined ? {} : { transporter }),
  });
  for (const s of services) broker.createService(s);
  live.push(broker);
  return broker;
}

describe("the message ID an emitter gives", () => {
  it("reaches a durable handler on the same node without a transporter", async () => {
    const seen: (string | undefined)[] = [];
    const broker = node(undefined, [recorder(seen)]);
    await broker.start();
    // (The same ID sent again while the first delivery is still in hand would join it.)
    await broker.emit("payment.taken", {}, { messageID: "row-1" });
    await until(() => seen.length === 1, { message: "the first delivery" });
    await broker.emit("payment.taken", {}, { messageID: "row-1" });
    await until(() => seen.length === 2, { message: "both deliveries" });
    expect(seen).toEqual(["row-1", "row-1"]);
  });

  it("reaches durable and plain handlers on another node over tcp://", async () => {
    const seen: (string | undefined)[] = [];
    const ns = `mid${Math.random().toString(36).slice(2, 8)}`;
    const consumer = new ServiceBroker({
      nodeID: `${ns}-c`,
      namespace: ns,
      transporter: "tcp://",
      logger: false,
    });
    consumer.createService(recorder(seen));
    const producer = new ServiceBroker({
      nodeID: `${ns}-p`,
      namespace: ns,
      transporter: "tcp://",
      logger: false,
    });
    live.push(consumer, producer);
    await consumer.start();
    await producer.start();
    await producer.waitForServices("ledger");
    await producer.emit("payment.taken", {}, { messageID: "row-7" });
    await producer.emit("payment.noted", {}, { messageID: "row-8" });
    await until(() => seen.length === 2, { message: "both events on the consumer" });
    expect(seen.sort()).toEqual(["plain:row-8", "row-7"]);
  });
});
