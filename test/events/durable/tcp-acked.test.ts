import { type Context, defineService, ServiceBroker } from "flotilla";
import { crashNode } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../harness/index.js";

// On tcp:// an event waits only in the memory of the node handling it. An explicitly durable
// emit (the outbox's) is therefore done only once the handler settled it: a node that dies
// holding the event fails the emit, retryably, so the outbox keeps its row and sends it again.
const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((b) => b.stop()));
});

interface Mailer {
  /** Message IDs each handler run saw, in order. */
  runs: string[];
  /** Resolves the handler runs waiting on the gate. */
  open(): void;
  /** `order.marker` events seen (a plain handler). */
  markers: number;
  broker: ServiceBroker;
}

function namespace(): string {
  return `acked${Math.random().toString(36).slice(2, 8)}`;
}

function node(ns: string, id: string): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID: `${ns}-${id}`,
    namespace: ns,
    transporter: "tcp://",
    logger: false,
  });
  live.push(broker);
  return broker;
}

/** A node with a durable `mailer` handler whose runs wait on a gate (open unless `gated`). */
function mailer(ns: string, id: string, opts: { gated?: boolean; fail?: boolean } = {}): Mailer {
  const broker = node(ns, id);
  const runs: string[] = [];
  let open: () => void = () => {};
  const gate = opts.gated
    ? new Promise<void>((resolve) => {
        open = resolve;
      })
    : Promise.resolve();
  const mailer: Mailer = { runs, open: () => open(), broker, markers: 0 };
  broker.createService(
    defineService({
      name: "mailer",
      events: {
        "order.marker": {
          handler() {
            mailer.markers++;
          },
        },
        "order.placed": {
          durable: true,
          maxRetries: 1,
          backoff: { delay: 1, maxDelay: 1 },
          async handler(ctx: Context) {
            runs.push(ctx.messageID ?? "none");
            await gate;
            if (opts.fail) throw new Error("smtp down");
          },
        },
      },
    }),
  );
  return mailer;
}

function settledFlag(promise: Promise<void>): { done: boolean; error: unknown } {
  const state: { done: boolean; error: unknown } = { done: false, error: undefined };
  promise.then(
    () => {
      state.done = true;
    },
    (err: unknown) => {
      state.done = true;
      state.error = err;
    },
  );
  return state;
}

describe("explicitly durable emits on tcp://", () => {
  it("resolve once the handler on the other node is done, not when the packet leaves", async () => {
    const ns = namespace();
    const producer = node(ns, "producer");
    const consumer = mailer(ns, "mailer-1", { gated: true });
    await Promise.all([producer.start(), consumer.broker.start()]);
    await producer.waitForServices("mailer");

    const emitted = settledFlag(
      producer.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-1" }),
    );
    await until(() => consumer.runs.length === 1, { message: "the handler running" });
    // A plain emit is done once sent, while the handler still runs.
    await producer.emit("order.placed", { id: 2 });
    expect(emitted.done).toBe(false);

    consumer.open();
    await until(() => emitted.done, { message: "the durable emit settled" });
    expect(emitted.error).toBeUndefined();
    expect(consumer.runs[0]).toBe("m-1");
  });

  it("fail retryably when the node holding the event dies; sent again, another instance takes it", async () => {
    const ns = namespace();
    const producer = node(ns, "producer");
    const doomed = mailer(ns, "mailer-1", { gated: true });
    await Promise.all([producer.start(), doomed.broker.start()]);
    await producer.waitForServices("mailer");

    const first = producer.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-9" });
    const outcome = first.then(
      () => undefined,
      (err: unknown) => err,
    );
    await until(() => doomed.runs.length === 1, { message: "the doomed handler running" });
    await crashNode(doomed.broker);
    expect(await outcome).toMatchObject({
      code: "DURABLE_PUBLISH_FAILED",
      retryable: true,
      data: { event: "order.placed", nodeID: `${ns}-mailer-1`, messageID: "m-9" },
    });

    // The outbox would send it again, with the same message ID, once an instance is there.
    const healthy = mailer(ns, "mailer-2");
    await healthy.broker.start();
    await until(() => producer.registry.remote.nodes.has(`${ns}-mailer-2`), {
      message: "the second mailer seen",
    });
    await producer.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-9" });
    expect(healthy.runs).toEqual(["m-9"]);
  });

  it("settle after the handler gave up too: a dead letter is an end", async () => {
    const ns = namespace();
    const producer = node(ns, "producer");
    const consumer = mailer(ns, "mailer-1", { fail: true });
    await Promise.all([producer.start(), consumer.broker.start()]);
    await producer.waitForServices("mailer");

    await producer.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-dead" });
    // One run and one retry (maxRetries: 1), then the dead letter, before the emit resolved.
    expect(consumer.runs).toEqual(["m-dead", "m-dead"]);
    const letters = await consumer.broker.deadLetters.list();
    expect(letters.map((l) => l.id)).toEqual(["m-dead"]);
  });

  it("join the delivery in hand when the same message is sent again meanwhile", async () => {
    const ns = namespace();
    const producer = node(ns, "producer");
    const consumer = mailer(ns, "mailer-1", { gated: true });
    await Promise.all([producer.start(), consumer.broker.start()]);
    await producer.waitForServices("mailer");

    const first = settledFlag(
      producer.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-dup" }),
    );
    await until(() => consumer.runs.length === 1, { message: "the handler running" });
    const again = settledFlag(
      producer.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-dup" }),
    );
    // Packets from one node arrive in order: once this marker is in, the duplicate was taken.
    await producer.emit("order.marker", {});
    await until(() => consumer.markers === 1, { message: "the marker after the duplicate" });
    consumer.open();
    await until(() => first.done && again.done, { message: "both emits settled" });
    expect([first.error, again.error]).toEqual([undefined, undefined]);
    expect(consumer.runs).toEqual(["m-dup"]);
  });

  it("wait for a durable handler on the emitting node as well", async () => {
    const ns = namespace();
    const both = mailer(ns, "both", { gated: true });
    await both.broker.start();
    const emitted = settledFlag(
      both.broker.emit("order.placed", { id: 1 }, { durable: true, messageID: "m-local" }),
    );
    await until(() => both.runs.length === 1, { message: "the local handler running" });
    expect(emitted.done).toBe(false);
    both.open();
    await until(() => emitted.done, { message: "the durable emit settled" });
    expect(emitted.error).toBeUndefined();
  });
});
