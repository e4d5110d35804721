import {
  type BrokerOptions,
  defineService,
  RequestTimeoutError,
  ServiceBroker,
  ServiceNotAvailableError,
} from "flotilla";
import { waitForEvent } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { jsonSerializer } from "../../src/serializers/json.js";
import { encodePacket } from "../../src/transit/codec.js";
import { PacketType } from "../../src/transit/packets.js";
import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory/index.js";
import { echoService, Gate, listenerService } from "../conformance/services.js";
import { until } from "../harness/index.js";

const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});

function node(bus: MemoryBus, nodeID: string, extra: BrokerOptions = {}): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID,
    logger: false,
    transporter: createMemoryTransporter(bus),
    heartbeatInterval: 50,
    heartbeatTimeout: 300,
    ...extra,
  });
  live.push(broker);
  return broker;
}

const watcher = defineService({
  name: "watcher",
  events: { "$node.*": { handler: () => {} } },
});

/**
 * Node `nodeID` serving `echo` on `bus`, a client that watches nodes come and go, and one call
 * from the client that the server holds (settling as an error or a value, never throwing).
 */
async function heldCall(bus: MemoryBus, nodeID: string) {
  const gate = new Gate();
  const server = node(bus, nodeID);
  server.createService(echoService(nodeID, gate));
  const client = node(bus, "client");
  client.createService(watcher);
  await Promise.all([server.start(), client.start()]);
  await client.waitForServices("echo", 2_000);
  const pending = client.call("echo.hold", {}, { timeout: 10_000 }).catch((e: unknown) => e);
  await until(() => gate.entered.count === 1);
  return { client, pending };
}

describe("discovery", () => {
  it("drops a node that goes silent after the heartbeat timeout, failing its pending calls", async () => {
    const bus = new MemoryBus();
    const { client, pending } = await heldCall(bus, "silent");
    const gone = waitForEvent(client, "$node.disconnected");
    bus.setFilter((from) => (from === "silent" ? "drop" : undefined)); // a network partition
    expect((await gone).params).toEqual({ nodeID: "silent", unexpected: true });
    // Failed because its node was dropped, not at its 10 s deadline (a RequestTimeoutError).
    expect(await pending).toBeInstanceOf(ServiceNotAvailableError);
    expect(client.registry.isAvailable("echo")).toBe(false);
  });

  it("a node restarting under the same ID replaces its old entry; calls on the old one fail", async () => {
    const bus = new MemoryBus();
    const { client, pending } = await heldCall(bus, "worker");

    // The announcement of a new instance under the same ID, before the old one was seen to go
    // (as on a transporter that does not watch connections).
    const back = waitForEvent(client, "$node.connected");
    const raw = createMemoryTransporter(bus);
    await raw.connect({
      nodeID: "raw",
      namespace: "",
      logger: client.logger,
      maxPacketSize: 1024 * 1024,
      onMessage: () => {},
    });
    const info = {
      sender: "worker",
      instanceID: "new-instance",
      seq: 1,
      hostname: "h",
      services: [],
      client: { type: "flotilla" as const, version: "0" },
    };
    await raw.publish(
      `flo.default.INFO.client`,
      encodePacket(jsonSerializer(), PacketType.INFO, info),
    );
    expect((await back).params).toEqual({ nodeID: "worker", reconnected: true });
    expect(await pending).toMatchObject({
      code: "SERVICE_NOT_AVAILABLE",
      data: { reason: "node restarted" },
    });
    expect(client.registry.remote.nodes.get("worker")?.instanceID).toBe("new-instance");
    expect(client.registry.isAvailable("echo")).toBe(false);
    await raw.disconnect();
  });

  it("drops a packet over maxPacketSize on the receiver and keeps working", async () => {
    const bus = new MemoryBus();
    const server = node(bus, "small", { maxPacketSize: 64 * 1024 });
    server.createService(echoService("small"));
    const client = node(bus, "client");
    await Promise.all([server.start(), client.start()]);
    await client.waitForServices("echo", 2_000);
    const big = client.call("echo.say", { blob: "x".repeat(100 * 1024) }, { timeout: 200 });
    await expect(big).rejects.toBeInstanceOf(RequestTimeoutError);
    await expect(client.call("echo.say", { small: true })).resolves.toMatchObject({
      node: "small",
    });
  });

  it.each([
    {
      what: "prefers the local instance by default",
      options: {},
      picks: ["local", "local", "local", "local"],
    },
    {
      what: "balances calls over local and remote instances when preferLocal is off",
      options: { preferLocal: false },
      picks: ["local", "local", "remote", "remote"],
    },
  ])("$what; a call for a given nodeID goes there", async ({ options, picks }) => {
    const bus = new MemoryBus();
    const remote = node(bus, "remote");
    remote.createService(echoService("remote"));
    const local = node(bus, "local", options);
    local.createService(echoService("local"));
    await Promise.all([remote.start(), local.start()]);
    await until(() => (local.registry.remote.nodes.get("remote")?.info.services.length ?? 0) > 0);
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => local.call<{ node: string }>("echo.say")),
    );
    expect(answers.map((p) => p.node).sort()).toEqual(picks);
    await expect(local.call("echo.say", {}, { nodeID: "remote" })).resolves.toMatchObject({
      node: "remote",
    });
  });

  it("in broker-balanced mode, requests and emitted events go through service and group queues", async () => {
    const bus = new MemoryBus();
    const topics: string[] = [];
    bus.setFilter((_from, _to, topic) => {
      topics.push(topic);
      return undefined;
    });
    const log: string[] = [];
    const a = node(bus, "a", { balancing: "broker" });
    a.createService(echoService("a"));
    a.createService(listenerService("mail", "a", log));
    const b = node(bus, "b", { balancing: "broker" });
    b.createService(echoService("b"));
    b.createService(listenerService("mail", "b", log));
    const client = node(bus, "client", { balancing: "broker" });
    await Promise.all([a.start(), b.start(), client.start()]);
    await until(
      () =>
        [...client.registry.remote.nodes.values()].filter((n) => n.info.services.length > 0)
          .length === 2,
    );
    const picks = await Promise.all(
      Array.from({ length: 4 }, () => client.call<{ node: string }>("echo.say")),
    );
    expect(picks.map((p) => p.node).sort()).toEqual(["a", "a", "b", "b"]);
    expect(topics.filter((t) => t.endsWith(".REQB.echo")).length).toBe(4);
    const delivered = Promise.race([
      waitForEvent(a, "order.placed"),
      waitForEvent(b, "order.placed"),
    ]);
    await client.emit("order.placed", { id: 1 });
    await delivered;
    expect(topics.filter((t) => t.endsWith(".EVENTB.mail")).length).toBe(1);
    expect(log).toHaveLength(1);
  });

  it("refuses broker-balanced mode on a transporter that cannot balance", async () => {
    const broker = new ServiceBroker({
      logger: false,
      transporter: "tcp://?udp=false",
      balancing: "broker",
    });
    await expect(broker.start()).rejects.toMatchObject({ code: "BALANCING_NOT_SUPPORTED" });
  });
});
