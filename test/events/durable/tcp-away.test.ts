import { type Context, defineService, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../harness/index.js";

// On tcp:// a durable event waits only in the handling node's memory: while every instance of a
// durable group is away, an explicitly durable emit (what the outbox sends) is refused,
// retryably, so the caller keeps it; once an instance is back it is taken.
const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((b) => b.stop()));
});

function node(ns: string, id: string, seen?: string[]): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID: `${ns}-${id}`,
    namespace: ns,
    transporter: "tcp://",
    logger: false,
  });
  if (seen !== undefined) {
    broker.createService(
      defineService({
        name: "mailer",
        events: {
          "order.placed": {
            durable: true,
            handler(ctx: Context) {
              seen.push(String(ctx.params.id));
            },
          },
        },
      }),
    );
  }
  live.push(broker);
  return broker;
}

describe("durable events on tcp:// while their group is away", () => {
  it("are refused retryably, and taken again once an instance is back", async () => {
    const ns = `away${Math.random().toString(36).slice(2, 8)}`;
    const seen: string[] = [];
    const producer = node(ns, "producer");
    let consumer = node(ns, "mailer-1", seen);
    await producer.start();
    await consumer.start();
    await producer.waitForServices("mailer");
    await producer.emit("order.placed", { id: "1" }, { durable: true });
    await until(() => seen.length === 1, { message: "the first event" });

    await consumer.stop();
    await until(() => !producer.registry.remote.hasService("mailer"), {
      message: "the mailer gone",
    });
    const refused = await producer.emit("order.placed", { id: "2" }, { durable: true }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toMatchObject({
      code: "DURABLE_PUBLISH_FAILED",
      retryable: true,
      data: { event: "order.placed", groups: ["mailer"] },
    });
    // Not durable, or an event no durable handler ever took: delivered where it can be, as before.
    await expect(producer.emit("order.placed", { id: "3" })).resolves.toBeUndefined();
    await expect(producer.emit("order.shipped", {}, { durable: true })).resolves.toBeUndefined();

    consumer = node(ns, "mailer-2", seen);
    await consumer.start();
    await producer.waitForServices("mailer");
    await producer.emit("order.placed", { id: "2" }, { durable: true });
    await until(() => seen.includes("2"), { message: "the event taken once the group is back" });
    expect(seen).toEqual(["1", "2"]);
  });
});
