import { afterEach, describe, expect, it } from "vitest";
import { resolveTransporter } from "../../src/transporters/index.js";
import {
  createMemoryTransporter,
  MemoryBus,
  MemoryTransporter,
  memoryBuses,
} from "../../src/transporters/memory/index.js";
import type { Transporter } from "../../src/transporters/transporter.js";
import { bytes, Probe } from "./helpers.js";
import { runTransporterSuite } from "./suite.js";

runTransporterSuite({
  name: "memory",
  harness: () => {
    const bus = new MemoryBus();
    return {
      create: () => createMemoryTransporter(bus),
      kill: async (_t, nodeID) => void bus.kill(nodeID),
    };
  },
});

describe("memory transporter", () => {
  const live: Transporter[] = [];
  afterEach(async () => {
    await Promise.all(live.splice(0).map((t) => t.disconnect()));
  });

  async function join(bus: MemoryBus, nodeID: string, topics: string[] = [], namespace = "test") {
    const transporter = createMemoryTransporter(bus);
    const probe = new Probe(nodeID, namespace);
    await transporter.connect(probe.context());
    for (const topic of topics) await transporter.subscribe(topic);
    live.push(transporter);
    return { transporter, probe };
  }

  it("gives each message to one group member in turn, and to every plain subscriber", async () => {
    const bus = new MemoryBus();
    const a = await join(bus, "a");
    const workers = await Promise.all(["w1", "w2", "w3"].map((id) => join(bus, id)));
    for (const w of workers) await w.transporter.subscribe("jobs", "workers");
    const watcher = await join(bus, "watcher", ["jobs"]);
    for (let i = 0; i < 6; i++) await a.transporter.publish("jobs", bytes(`j${i}`));
    await watcher.probe.until(() => watcher.probe.texts("jobs").length === 6, "all six");
    expect(workers.map((w) => w.probe.texts("jobs"))).toEqual([
      ["j0", "j3"],
      ["j1", "j4"],
      ["j2", "j5"],
    ]);
  });

  it("drops what the filter drops: a one-way partition", async () => {
    const bus = new MemoryBus();
    const a = await join(bus, "a", ["t"]);
    const b = await join(bus, "b", ["t"]);
    bus.setFilter((from, to) => (from === "a" && to === "b" ? "drop" : undefined));
    await a.transporter.publish("t", bytes("lost"));
    await b.transporter.publish("t", bytes("arrives"));
    await a.probe.until(() => a.probe.texts("t").length === 2, "a's two messages");
    await b.probe.until(() => b.probe.texts("t").length === 1, "b's own message");
    expect(b.probe.texts("t")).toEqual(["arrives"]);
    bus.setFilter(undefined);
    await a.transporter.publish("t", bytes("healed"));
    await b.probe.until(() => b.probe.texts("t").length === 2, "the message after healing");
  });

  it("delays what the filter delays, keeping the order of the link", async () => {
    const bus = new MemoryBus();
    const a = await join(bus, "a");
    const b = await join(bus, "b", ["slow", "fast"]);
    const c = await join(bus, "c", ["fast"]);
    bus.setFilter((_from, to, topic) => (to === "b" && topic === "slow" ? 30 : undefined));
    const sentAt = Date.now();
    await a.transporter.publish("slow", bytes("1"));
    await a.transporter.publish("fast", bytes("2"));
    await c.probe.until(() => c.probe.texts("fast").length === 1, "c's undelayed copy");
    expect(b.probe.received).toHaveLength(0); // held behind the delayed one
    await b.probe.until(() => b.probe.received.length === 2, "both messages at b");
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(25);
    expect(b.probe.log.filter((e) => e.startsWith("msg:"))).toEqual(["msg:slow:1", "msg:fast:2"]);
  });

  it("kills a node: peers see it down, its messages vanish, nothing reaches it", async () => {
    const bus = new MemoryBus();
    const a = await join(bus, "a", ["t"]);
    const b = await join(bus, "b", ["t"]);
    expect(bus.kill("b")).toBe(true);
    expect(bus.kill("nobody")).toBe(false);
    await a.probe.until(() => a.probe.down.includes("b"), "a to see b down");
    await b.transporter.publish("t", bytes("from the dead"));
    await a.transporter.publish("t", bytes("to the living"));
    await a.probe.until(() => a.probe.texts("t").length === 1, "a's own message");
    expect(a.probe.texts("t")).toEqual(["to the living"]);
    expect(b.probe.received).toHaveLength(0);
    expect(b.probe.down).toEqual([]); // a crashed node hears nothing
    expect(bus.nodeIDs).toEqual(["a"]);
  });

  it("copies data: a sender's later changes do not reach receivers", async () => {
    const bus = new MemoryBus();
    const a = await join(bus, "a");
    const b = await join(bus, "b", ["t"]);
    const payload = Buffer.from("abc");
    const sent = a.transporter.publish("t", payload);
    payload.fill(0);
    await sent;
    await b.probe.until(() => b.probe.received.length === 1, "the message");
    expect(b.probe.texts("t")).toEqual(["abc"]);
  });

  it("keeps namespaces on one bus apart", async () => {
    const bus = new MemoryBus();
    const a = await join(bus, "a", ["t"], "one");
    const b = await join(bus, "a", ["t"], "two"); // same nodeID, other cluster: no clash
    await b.transporter.publish("t", bytes("two only"));
    await b.probe.until(() => b.probe.received.length === 1, "b's message");
    await a.transporter.publish("t", bytes("one only"));
    await a.probe.until(() => a.probe.received.length === 1, "a's message");
    expect(a.probe.texts("t")).toEqual(["one only"]);
    expect(a.probe.up).toEqual([]);
    expect(bus.nodeIDs).toEqual(["a", "a"]);
  });

  it("refuses to publish before connect", async () => {
    const t = createMemoryTransporter(new MemoryBus());
    await expect(t.publish("t", bytes("x"))).rejects.toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
    });
  });

  it("memory:// URLs: no name is the default bus, a name picks a bus of its own", async () => {
    const name = `bus-${Math.random().toString(36).slice(2)}`;
    const [x, y, z] = await Promise.all([
      resolveTransporter(`memory://${name}`),
      resolveTransporter(`memory://${name}`),
      resolveTransporter("memory://"),
    ]);
    expect(x).toBeInstanceOf(MemoryTransporter);
    expect((x as MemoryTransporter).bus).toBe((y as MemoryTransporter).bus);
    expect((x as MemoryTransporter).bus).toBe(memoryBuses.get(name));
    expect((z as MemoryTransporter).bus).toBe(memoryBuses.get(""));
    expect((z as MemoryTransporter).bus).not.toBe((x as MemoryTransporter).bus);
    expect(memoryBuses.delete(name)).toBe(true);
    await expect(resolveTransporter("memory://x?size=1")).rejects.toMatchObject({
      code: "INVALID_TRANSPORTER_URL",
    });
  });
});
