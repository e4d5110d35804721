import { type BrokerOptions, defineService, PayloadTooDeepError, ServiceBroker } from "flotilla";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { LogLimiter } from "../../src/observability/log-limiter.js";
import { RemoteCatalog } from "../../src/registry/remote.js";
import { jsonSerializer } from "../../src/serializers/json.js";
import { encodePacket } from "../../src/transit/codec.js";
import { PacketType } from "../../src/transit/packets.js";
import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory/index.js";
import { echoService } from "../conformance/services.js";
import { attackerContext, BAD_INFO } from "../harness/index.js";

// Findings 3, 4 and 6 of issue 12: one malformed INFO must not break discovery, an over-deep
// payload is a 4xx with a code (not a stack overflow and a 500), and bad packets cost a few
// log lines, not one each.

const live: ServiceBroker[] = [];
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});

/** A logger whose lines land in `lines`. */
function recording() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { logger, lines };
}

function node(bus: MemoryBus, nodeID: string, extra: BrokerOptions = {}): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID,
    logger: false,
    transporter: createMemoryTransporter(bus),
    ...extra,
  });
  live.push(broker);
  return broker;
}

/** A client on `bus` that publishes whatever bytes it is given, as an attacker would. */
async function attacker(bus: MemoryBus) {
  const raw = createMemoryTransporter(bus);
  await raw.connect(attackerContext());
  return raw;
}

const badInfo = BAD_INFO;

/** Nested arrays, `depth` levels. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe("a node under hostile packets", () => {
  it("drops a malformed INFO, logs it once, and still discovers the other nodes", async () => {
    const bus = new MemoryBus();
    const { logger, lines } = recording();
    const client = node(bus, "client", { logger });
    await client.start();
    const raw = await attacker(bus);
    const bytes = encodePacket(jsonSerializer(), PacketType.INFO, badInfo as never);
    for (let i = 0; i < 50; i++) await raw.publish("flo.default.INFO", bytes);

    const worker = node(bus, "worker");
    worker.createService(echoService("worker"));
    await worker.start();
    await client.waitForServices("echo", 2_000);
    await expect(client.call("echo.say", { a: 1 })).resolves.toMatchObject({ node: "worker" });

    expect(client.registry.remote.nodes.has("evil")).toBe(false);
    expect(client.health().transporter?.badPackets).toEqual({ evil: { fields: 50 } });
    const dropped = lines.filter((l) => l.msg.startsWith("Dropped a malformed packet"));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]?.msg).toContain("services[0]: expected an object");
    expect(lines.some((l) => l.level >= 50)).toBe(false); // no error lines, no stacks
    await raw.disconnect();
  });

  it.each([
    [
      "a REQUEST whose level is a string",
      PacketType.REQUEST,
      { id: "1", action: "echo.say", level: "x", requestID: "r", timeout: 0 },
    ],
    ["a RESPONSE whose error is a number", PacketType.RESPONSE, { id: "1", ok: false, error: 5 }],
    [
      "an EVENT whose groups hold a null",
      PacketType.EVENT,
      { event: "e", groups: [null], level: 1, requestID: "r" },
    ],
    ["a HEARTBEAT without cpu", PacketType.HEARTBEAT, { instanceID: "i" }],
    [
      "an INFO whose action has no name",
      PacketType.INFO,
      { ...badInfo, services: [{ name: "m", fullName: "m", actions: [{}], events: [] }] },
    ],
    ["a PONG whose time is not finite", PacketType.PONG, { id: "1", time: null, arrived: 1 }],
  ])("drops %s before anything acts on it", async (_what, type, body) => {
    const bus = new MemoryBus();
    const server = node(bus, "server");
    server.createService(echoService("server"));
    await server.start();
    const raw = await attacker(bus);
    const topic =
      type === PacketType.HEARTBEAT || type === PacketType.INFO ? "flo.default.INFO" : "";
    const bytes = encodePacket(jsonSerializer(), type, { sender: "evil", ...body } as never);
    const topics: Record<number, string> = {
      [PacketType.REQUEST]: "flo.default.REQ.server",
      [PacketType.RESPONSE]: "flo.default.RES.server",
      [PacketType.EVENT]: "flo.default.EVENT.server",
      [PacketType.HEARTBEAT]: "flo.default.HEARTBEAT",
      [PacketType.PONG]: "flo.default.PONG.server",
    };
    await raw.publish(topics[type] ?? topic, bytes);
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.health().transporter?.badPackets).toEqual({ evil: { fields: 1 } });
    await raw.disconnect();
  });

  it("refuses a malformed announcement in the catalogue without touching what it knows", () => {
    const catalog = new RemoteCatalog();
    const good = { ...badInfo, sender: "good", services: [] };
    catalog.upsert(good as never, 0);
    expect(() => catalog.upsert(badInfo as never, 0)).toThrow(/services\[0\]/);
    expect([...catalog.nodes.keys()]).toEqual(["good"]);
    catalog.upsert({ ...good, sender: "other" } as never, 0);
    expect(catalog.nodes.size).toBe(2);
  });
});

describe("over-deep payloads", () => {
  it("a call to a remote action with params 6,000 levels deep fails with PAYLOAD_TOO_DEEP", async () => {
    const bus = new MemoryBus();
    const server = node(bus, "server");
    server.createService(echoService("server"));
    const client = node(bus, "client");
    await Promise.all([server.start(), client.start()]);
    await client.waitForServices("echo", 2_000);
    const call = client.call("echo.say", { deep: nested(6_000) });
    await expect(call).rejects.toBeInstanceOf(PayloadTooDeepError);
    await expect(call).rejects.toMatchObject({ code: "PAYLOAD_TOO_DEEP", status: 422 });
    await expect(client.call("echo.say", { deep: nested(100) })).resolves.toMatchObject({
      node: "server",
    });
  });

  it("a gateway route served by a remote action answers 422 PAYLOAD_TOO_DEEP, not 500", async () => {
    const bus = new MemoryBus();
    const server = node(bus, "server");
    server.createService(
      defineService({
        name: "docs",
        actions: {
          save: {
            rest: "POST /docs",
            visibility: "published",
            handler: (ctx) => ({ ok: ctx.params !== null }),
          },
        },
      }),
    );
    const edge = node(bus, "edge");
    await Promise.all([server.start(), edge.start()]);
    await edge.waitForServices("docs", 2_000);
    gateway = await createGateway(edge);
    // As deep as the gateway takes (512 levels): the packet around it is deeper than the
    // serializer takes, so the refusal comes from the serializer, on the calling node.
    const payload = `{"a":${"[".repeat(511)}${"]".repeat(511)}}`;
    const res = await gateway.app.inject({
      method: "POST",
      url: "/docs",
      headers: { "content-type": "application/json" },
      payload,
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: "PAYLOAD_TOO_DEEP" });
    const ok = await gateway.app.inject({ method: "POST", url: "/docs", payload: { a: [[1]] } });
    expect(ok.statusCode).toBe(200);
  });

  it("a packet nested past the limit is dropped by its receiver, as depth", async () => {
    const bus = new MemoryBus();
    const server = node(bus, "server");
    await server.start();
    const raw = await attacker(bus);
    const body = `{"sender":"evil","event":"e","groups":null,"level":1,"requestID":"r","payload":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const bytes = new Uint8Array([1, 1, PacketType.EVENT, ...Buffer.from(body)]);
    await raw.publish("flo.default.EVENT.server", bytes);
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.health().transporter?.badPackets).toEqual({ "?": { depth: 1 } });
    await raw.disconnect();
  });
});

describe("LogLimiter", () => {
  it("logs one line per key per interval, then says how many it held back", () => {
    const { logger, lines } = recording();
    let now = 0;
    const limiter = new LogLimiter(logger, { interval: 1000, now: () => now });
    for (let i = 0; i < 500; i++) limiter.warn("bad:n2", { peer: "n2" }, "Dropped");
    limiter.warn("bad:n3", { peer: "n3" }, "Dropped");
    expect(lines).toHaveLength(2);
    now = 1500;
    limiter.warn("bad:n2", { peer: "n2" }, "Dropped");
    expect(lines[2]).toMatchObject({ peer: "n2", suppressed: 499 });
  });

  it("keeps to an overall budget of lines per interval, whatever the keys", () => {
    const { logger, lines } = recording();
    let now = 0;
    const limiter = new LogLimiter(logger, { interval: 1000, maxLines: 10, now: () => now });
    for (let i = 0; i < 1000; i++) limiter.warn(`bad:${i}`, {}, "Dropped");
    expect(lines).toHaveLength(10);
    now = 2000;
    limiter.warn("bad:x", {}, "Dropped");
    expect(lines[10]).toMatchObject({ suppressedOther: 990 });
  });
});
