import fc from "fast-check";
import { BadPacketError, defineService, errorFromPlain, ServiceBroker } from "flotilla";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { RemoteCatalog } from "../../src/registry/remote.js";
import { jsonSerializer } from "../../src/serializers/json.js";
import { decodePacket, encodePacket } from "../../src/transit/codec.js";
import { type Packet, PacketType } from "../../src/transit/packets.js";
import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory/index.js";
import { attackerContext } from "../harness/index.js";

// The packet decoder against bodies a stranger chooses: valid packets with fields swapped for
// anything. Each is either refused with BAD_PACKET or has the shape the node relies on — the
// catalogue indexes it, errors rebuild — and a live node fed thousands of them keeps serving.

const RUNS = 10_000;
const serializer = jsonSerializer();

const action = { name: "m.add", visibility: "public", rest: ["POST /add"] };
const service = {
  name: "m",
  fullName: "m",
  actions: [action],
  events: [{ event: "e", group: "m" }],
};
const call = { meta: {}, requestID: "r", level: 1 };
/** One valid body per packet type, from which the fuzzer mutates. */
const valid: Record<number, Record<string, unknown>> = {
  [PacketType.REQUEST]: { ...call, id: "1", action: "m.add", params: { a: 1 }, timeout: 100 },
  [PacketType.RESPONSE]: {
    id: "1",
    ok: false,
    error: { name: "E", message: "m", code: "C", status: 500, retryable: false },
  },
  [PacketType.EVENT]: { ...call, event: "e", payload: {}, groups: ["m"], broadcast: false },
  [PacketType.DISCOVER]: {},
  [PacketType.INFO]: { instanceID: "i", seq: 1, hostname: "h", services: [service] },
  [PacketType.HEARTBEAT]: { instanceID: "i", cpu: 3 },
  [PacketType.PING]: { id: "1", time: 1 },
  [PacketType.PONG]: { id: "1", time: 1, arrived: 2 },
  [PacketType.DISCONNECT]: {},
};

/** What a hostile peer puts in a field. */
const junk = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, "", -1, 1e308, [], {}, [null], [{}], "x".repeat(70_000), { length: 5 }),
  fc.constant([null, { name: "math", actions: 5 }]),
  fc.array(fc.record({ name: fc.string(), fullName: fc.string(), actions: fc.jsonValue() })),
);

/** A valid body of some type with some fields (top level or inside INFO's service) replaced. */
const hostile = fc
  .tuple(
    fc.integer({ min: 1, max: 9 }),
    fc.array(
      fc.tuple(
        fc.constantFrom(
          "sender",
          "id",
          "action",
          "params",
          "meta",
          "requestID",
          "level",
          "timeout",
          "sentAt",
          "headers",
          "ok",
          "data",
          "error",
          "event",
          "groups",
          "broadcast",
          "instanceID",
          "seq",
          "services",
          "cpu",
          "time",
          "arrived",
          "services.0",
          "services.0.actions",
          "services.0.actions.0",
          "services.0.events",
          "error.cause",
        ),
        junk,
      ),
      { maxLength: 3 },
    ),
  )
  .map(([type, edits]) => {
    const body: Record<string, unknown> = structuredClone({ sender: "evil", ...valid[type] });
    for (const [path, value] of edits) set(body, path.split("."), structuredClone(value));
    return { type: type as PacketType, body };
  });

function set(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at: unknown = target;
  for (const key of path.slice(0, -1)) {
    at = (at as Record<string, unknown> | null)?.[key];
    if (typeof at !== "object" || at === null) return;
  }
  (at as Record<string, unknown>)[path[path.length - 1]!] = value;
}

/** What the node does with a packet it accepted, reduced to the parts that trusted its shape. */
function actOn(packet: Packet, catalog: RemoteCatalog): void {
  if (packet.type === PacketType.INFO) {
    catalog.upsert(packet.body, 0);
    for (const [, endpoints] of catalog.actions()) for (const e of endpoints) void e.service.length;
    catalog.listenersFor("e");
  } else if (packet.type === PacketType.RESPONSE && packet.body.error !== undefined) {
    void errorFromPlain(packet.body.error).message.length;
  } else if (packet.type === PacketType.EVENT) {
    for (const g of packet.body.groups ?? []) void g.length;
  }
}

const live: ServiceBroker[] = [];
afterAll(() => Promise.allSettled(live.map((b) => b.stop())));

describe("fuzz: packet decoder", () => {
  it(`refuses or accepts ${RUNS} hostile bodies, and what it accepts is safe to act on`, () => {
    const catalog = new RemoteCatalog();
    fc.assert(
      fc.property(hostile, ({ type, body }) => {
        let packet: Packet;
        try {
          packet = decodePacket(serializer, encodePacket(serializer, type, body as never));
        } catch (err) {
          expect(err).toBeInstanceOf(BadPacketError);
          return;
        }
        actOn(packet, catalog);
      }),
      { numRuns: RUNS },
    );
  });

  it(`refuses ${RUNS} arbitrary byte strings after a valid header, with BAD_PACKET only`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.uint8Array({ maxLength: 48 }),
        (type, body) => {
          const bytes = new Uint8Array([1, 1, type, ...body]);
          try {
            decodePacket(serializer, bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(BadPacketError);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("a live node fed 1,000 hostile packets on every topic stays up, keeps serving, and logs a bounded number of lines", async () => {
    const bus = new MemoryBus();
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const server = new ServiceBroker({
      nodeID: "server",
      logger,
      transporter: createMemoryTransporter(bus),
    });
    server.createService(defineService({ name: "m", actions: { add: { handler: () => 42 } } }));
    const client = new ServiceBroker({
      nodeID: "client",
      logger: false,
      transporter: createMemoryTransporter(bus),
    });
    live.push(server, client);
    await Promise.all([server.start(), client.start()]);
    await client.waitForServices("m", 2_000);
    const before = lines.length;
    const raw = createMemoryTransporter(bus);
    await raw.connect(attackerContext());
    const topics = [
      "REQ.server",
      "RES.server",
      "EVENT.server",
      "INFO",
      "HEARTBEAT",
      "PING.server",
      "PONG.server",
      "DISCONNECT",
      "DISCOVER",
    ];
    for (const { type, body } of fc.sample(hostile, { numRuns: 1_000, seed: 12 })) {
      // The sender is the attacker's own name: impersonation is the transport's to refuse.
      const bytes = encodePacket(serializer, type, { ...body, sender: "evil" } as never);
      for (const topic of topics) await raw.publish(`flo.default.${topic}`, bytes);
    }
    await expect(client.call("m.add", {})).resolves.toBe(42);
    expect(server.health().ready).toBe(true);
    // One line per peer and kind of problem (plus the nodes' own news), not one per packet.
    // Warnings: one per peer and kind of problem, not one per packet. (The valid INFO and
    // DISCONNECT packets among them make 'evil' join and leave: info lines, one per event.)
    const warnings = lines.slice(before).filter((l) => l.level >= 40);
    expect(warnings.length).toBeLessThan(20);
    expect(lines.some((l) => l.level >= 50)).toBe(false);
    await raw.disconnect();
  });
});
