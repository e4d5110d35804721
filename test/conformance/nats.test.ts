import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveTransporter } from "../../src/transporters/index.js";
import { PartAssembler, splitParts } from "../../src/transporters/nats/chunks.js";
import { NatsTransporter, natsSubject, parseNatsUrl } from "../../src/transporters/nats/index.js";
import {
  peerAwareTests,
  requireServer,
  runWithout,
  ScopedTransporter,
  until,
} from "../harness/index.js";
import { bytes, Probe, recordingLogger } from "../transporters/helpers.js";
import { runTransporterSuite } from "../transporters/suite.js";
import { runTransporterConformance } from "./suite.js";

// The shared server of this machine (.ci/services.sh starts it). Down means failed, not skipped.
const url = "nats://127.0.0.1:4222";
beforeAll(() => requireServer("nats"));

runTransporterConformance({ name: "nats://", transporter: () => url });

let run = 0;
runTransporterSuite({
  name: "nats (bytes)",
  harness: () => {
    const prefix = `bytes.${process.pid}.${Date.now().toString(36)}.${run++}.`;
    return {
      create: () => new ScopedTransporter(new NatsTransporter(), prefix),
      kill: (t) => t.kill?.() ?? t.disconnect(),
    };
  },
  skip: [
    { reason: "NATS is not peer-aware; transit notices peers by heartbeat", tests: peerAwareTests },
  ],
});

describe("nats transporter", () => {
  it("maps topics to subjects one-to-one, escaping what a subject cannot hold", () => {
    expect(natsSubject("flo.shop.REQ.node-1_a")).toBe("flo.shop.REQ.node-1_a");
    expect(natsSubject("flo.shop.REQ.my node*")).toBe("flo.shop.REQ.my%20node%2A");
    expect(natsSubject("flo.shop.REQ.>")).toBe("flo.shop.REQ.%3E");
    expect(natsSubject("a..b.")).toBe("a.%.b.%");
    expect(natsSubject("flo.x.REQ.%2A")).toBe("flo.x.REQ.%252A"); // not the same as "*"
    expect(natsSubject("flo.x.REQ.nœud")).toBe("flo.x.REQ.n%C5%93ud");
  });

  it("reads servers, credentials and options from the URL", async () => {
    expect(parseNatsUrl("nats://127.0.0.1:4222")).toEqual({ servers: ["127.0.0.1:4222"] });
    expect(parseNatsUrl("nats://app:p%40ss@nats.local?reconnectWait=250&tls=true")).toEqual({
      servers: ["nats.local:4222"],
      user: "app",
      pass: "p@ss",
      reconnectWait: 250,
      tls: true,
    });
    expect(parseNatsUrl("nats://s3cret@nats.local:4333")).toEqual({
      servers: ["nats.local:4333"],
      token: "s3cret",
    });
    const t = await resolveTransporter("nats://a:4222,b:4223,c?pingInterval=5000");
    expect(t).toBeInstanceOf(NatsTransporter);
    expect((t as NatsTransporter).options).toMatchObject({
      servers: ["a:4222", "b:4223", "c:4222"],
      pingInterval: 5000,
      reconnectWait: 1000,
    });
    expect(() => parseNatsUrl("nats://h?reconectWait=1")).toThrow(
      /Unknown nats transporter option 'reconectWait'/,
    );
    expect(() => parseNatsUrl("nats://h?maxPingOut=-1")).toThrow(/non-negative integer/);
  });

  it("fails to connect with a retryable TRANSPORTER_NOT_CONNECTED naming the server", async () => {
    const t = new NatsTransporter({ servers: ["127.0.0.1:1"] });
    const probe = new Probe("n1");
    await expect(t.connect(probe.context())).rejects.toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
      retryable: true,
      message: expect.stringContaining("127.0.0.1:1"),
    });
    await expect(t.publish("x", bytes("x"))).rejects.toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
      status: 503,
      retryable: true,
    });
  });

  it("puts a message over max_payload back together from its parts, in order with the rest", async () => {
    const prefix = `parts.${process.pid}.${Date.now().toString(36)}.`;
    const a = new ScopedTransporter(new NatsTransporter(), prefix);
    const b = new ScopedTransporter(new NatsTransporter(), prefix);
    const pa = new Probe("a");
    const pb = new Probe("b");
    await a.connect(pa.context());
    await b.connect(pb.context());
    try {
      await b.subscribe("t");
      const big = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
      await a.publish("t", bytes("before"));
      await a.publish("t", big);
      await a.publish("t", bytes("after"));
      await pb.until(() => pb.received.length === 3, "three messages");
      expect(pb.texts("t")[0]).toBe("before");
      expect(Buffer.compare(Buffer.from(pb.received[1]?.data ?? []), big)).toBe(0);
      expect(pb.texts("t")[2]).toBe("after");
    } finally {
      await Promise.all([a.disconnect(), b.disconnect()]);
    }
  });

  it("drops a message in parts over the receiver's maxPacketSize at its first part, and carries on", async () => {
    const prefix = `partlimit.${process.pid}.${Date.now().toString(36)}.`;
    const a = new ScopedTransporter(new NatsTransporter(), prefix);
    const b = new ScopedTransporter(new NatsTransporter(), prefix);
    const pa = new Probe("a");
    const { logger, lines } = recordingLogger();
    const pb = new Probe("b", "test", logger, 2 * 1024 * 1024);
    await a.connect(pa.context());
    await b.connect(pb.context());
    try {
      await b.subscribe("t");
      // The sender's limit (16 MiB) lets it go; the receiver's (2 MiB) refuses to put it together.
      await a.publish("t", new Uint8Array(3 * 1024 * 1024));
      await a.publish("t", bytes("after"));
      await pb.until(() => pb.received.length === 1, "the message after");
      expect(pb.texts("t")).toEqual(["after"]);
      const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
      expect(warnings).toEqual(["Dropped a message sent in parts: too large"]);
    } finally {
      await Promise.all([a.disconnect(), b.disconnect()]);
    }
  });

  it("puts parts together, drops what lacks a part, and forgets what went to a group-mate", () => {
    const assembler = new PartAssembler(1024);
    const data = new Uint8Array(randomBytes(300));
    const parts = [...splitParts("s1-1", data, 100)];
    expect(parts.map((p) => [p.header, p.last])).toEqual([
      ["s1-1 0 3 300", false],
      ["s1-1 1 3 300", false],
      ["s1-1 2 3 300", true],
    ]);
    const add = (i: number) => assembler.add(parts[i]!.header, parts[i]!.part);
    expect(add(1)).toBeUndefined(); // no beginning: dropped quietly
    expect([add(0), add(1), add(2)]).toEqual([undefined, undefined, Buffer.from(data)]);
    expect([add(0), add(2)]).toEqual([undefined, "incomplete"]); // the middle part was lost
    // The sender's next message ends the previous one, whose last part went elsewhere.
    expect([add(0), add(1)]).toEqual([undefined, undefined]);
    expect(assembler.add("s1-2 0 2 150", new Uint8Array(100))).toBeUndefined();
    expect(assembler.pending).toBe(1);
    expect(assembler.add("s1-3 0 2 4096", new Uint8Array(10))).toBe("too large");
    expect(assembler.add("s1-3 1 2 4096", new Uint8Array(10))).toBeUndefined(); // quietly
    expect(assembler.add("s1-4 zero", new Uint8Array(10))).toBe("malformed");
  });

  it("hands each large message to exactly one member of a queue group", async () => {
    const prefix = `qparts.${process.pid}.${Date.now().toString(36)}.`;
    const nodes = ["p", "m1", "m2", "m3"].map((id) => ({
      t: new ScopedTransporter(new NatsTransporter(), prefix),
      probe: new Probe(id),
    }));
    try {
      for (const n of nodes) await n.t.connect(n.probe.context());
      const [publisher, ...members] = nodes;
      for (const m of members) await m.t.subscribe("jobs", "workers");
      const big = (i: number) => Buffer.alloc(1536 * 1024, i);
      for (let i = 0; i < 12; i++) await publisher!.t.publish("jobs", big(i));
      const received = () => members.flatMap((m) => m.probe.received);
      await until(() => received().length >= 12, { message: "twelve messages" });
      const firstBytes = received()
        .map((r) => r.data[0])
        .sort((a, b) => (a ?? 0) - (b ?? 0));
      expect(firstBytes).toEqual(Array.from({ length: 12 }, (_, i) => i));
      for (const r of received())
        expect(Buffer.compare(Buffer.from(r.data), big(r.data[0]!))).toBe(0);
    } finally {
      await Promise.all(nodes.map((n) => n.t.disconnect()));
    }
  });

  it("without the client package, says which package to install", async () => {
    const out = await runWithout(
      ["@nats-io/transport-node"],
      `const { resolveTransporter } = await import("./src/transporters/index.ts");
       const err = await resolveTransporter("nats://127.0.0.1:4222").catch((e) => e);
       console.log(JSON.stringify({ code: err.code, message: err.message }));`,
    );
    const err = JSON.parse(out) as { code: string; message: string };
    expect(err.code).toBe("MISSING_DEPENDENCY");
    expect(err.message.split("\n")).toContain("npm install @nats-io/transport-node");
  });
});
