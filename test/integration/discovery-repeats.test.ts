import { defineService, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { getInternals } from "../../src/broker/internals.js";
import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory/index.js";
import { until } from "../harness/index.js";

// A node hears the same announcement several times while a cluster forms (its broadcast, the
// answer to its DISCOVER, a re-announce after a reconnect). Taken in again it would cost a
// rebuild of the catalogue and a conflict check each time: the same (instanceID, seq) is
// skipped, and `seq` moves only when what a node announces changes.
const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});

function node(bus: MemoryBus, nodeID: string): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID,
    logger: false,
    transporter: createMemoryTransporter(bus),
  });
  live.push(broker);
  return broker;
}

const discovery = (broker: ServiceBroker) => {
  const transit = getInternals(broker).transit();
  if (transit === undefined) throw new Error("not connected");
  return transit.discovery;
};

describe("repeated announcements", () => {
  it("keep their seq until the announcement changes", async () => {
    const broker = node(new MemoryBus(), "seq-a");
    await broker.start();
    const first = discovery(broker).info().seq;
    expect(discovery(broker).info().seq).toBe(first);
    broker.createService(defineService({ name: "late", actions: { hi: { handler: () => "hi" } } }));
    await until(() => discovery(broker).info().seq > first, { message: "a new seq" });
  });

  it("are taken in once: a repeated INFO changes nothing on the others", async () => {
    const bus = new MemoryBus();
    const a = node(bus, "rep-a");
    const b = node(bus, "rep-b");
    const changes: string[] = [];
    a.createService(
      defineService({
        name: "watcher",
        events: {
          "$services.changed": {
            handler(ctx) {
              changes.push(String((ctx.params as { nodeID: string }).nodeID));
            },
          },
        },
      }),
    );
    b.createService(defineService({ name: "greeter", actions: { hi: { handler: () => "hi" } } }));
    await Promise.all([a.start(), b.start()]);
    await a.waitForServices("greeter");
    await until(() => changes.includes("rep-b"), { message: "b taken in" });
    const before = changes.filter((n) => n === "rep-b").length;

    // b announces itself again, unchanged; then a change it makes must still get through.
    discovery(b).reannounce();
    b.createService(defineService({ name: "later", actions: { hi: { handler: () => "hi" } } }));
    await a.waitForServices("later");
    expect(changes.filter((n) => n === "rep-b").length).toBe(before + 1);
  });
});
