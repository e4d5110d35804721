import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveTransporter } from "../../src/transporters/index.js";
import {
  entryFileName,
  type TcpOptions,
  TcpTransporter,
} from "../../src/transporters/tcp/index.js";
import { freePort, until } from "../harness/index.js";
import { bytes, Probe, recordingLogger, silent } from "./helpers.js";
import { runTransporterSuite } from "./suite.js";

const loopback = { host: "127.0.0.1", udp: false } satisfies TcpOptions;

runTransporterSuite({
  name: "tcp (rendezvous)",
  harness: async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flotilla-tcp-"));
    return {
      create: () => new TcpTransporter({ ...loopback, dir }),
      kill: (t) => (t as TcpTransporter).kill(),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

describe("tcp transporter", () => {
  let dir: string;
  const live: TcpTransporter[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "flotilla-tcp-"));
  });
  afterEach(async () => {
    await Promise.allSettled(live.splice(0).map((t) => t.disconnect()));
    await rm(dir, { recursive: true, force: true });
  });

  async function node(nodeID: string, options: TcpOptions = {}, probe = new Probe(nodeID)) {
    const transporter = new TcpTransporter({ ...loopback, dir, ...options });
    live.push(transporter);
    await transporter.connect(probe.context());
    return { transporter, probe };
  }
  const nsDir = () => path.join(dir, "test");

  it("finds a peer through the rendezvous directory alone, and cleans up after itself", async () => {
    const a = await node("a");
    const b = await node("b");
    // connect() waits for the handshakes with the peers found at start. `a` watches the
    // directory and may dial `b` at the same moment; its dial then wins (the smaller nodeID) and
    // it files `b` when `b`'s ACK reaches it, a moment after `b` is done.
    expect(b.transporter.peers).toEqual(["a"]);
    await until(() => a.transporter.peers.length > 0, { message: "a to file b" });
    expect(a.transporter.peers).toEqual(["b"]);
    expect((await readdir(nsDir())).sort()).toEqual(["a.json", "b.json"]);
    await b.transporter.disconnect();
    expect(await readdir(nsDir())).toEqual(["a.json"]);
  });

  it("removes the entry of a process that is gone", async () => {
    const gone = spawn(process.execPath, ["-e", ""]);
    const pid = gone.pid ?? 0;
    await new Promise((resolve) => gone.once("exit", resolve));
    await mkdir(nsDir(), { recursive: true });
    const stale = path.join(nsDir(), entryFileName("ghost"));
    const entry = { nodeID: "ghost", host: "127.0.0.1", port: 9, pid, startedAt: 0, instance: "x" };
    await writeFile(stale, JSON.stringify(entry));
    await node("a");
    expect(existsSync(stale)).toBe(false);
  });

  it("connects to static seeds, with discovery off", async () => {
    const solo = { rendezvous: false };
    const a = await node("a", solo);
    const seed = `127.0.0.1:${a.transporter.address?.port}`;
    const b = await node("b", { ...solo, seeds: [seed] });
    expect(b.transporter.peers).toEqual(["a"]);
    await a.transporter.subscribe("t");
    await b.transporter.publish("t", bytes("via seed"));
    await a.probe.until(() => a.probe.texts("t").length === 1, "the message");
  });

  it("keeps dialing a seed until it comes up", async () => {
    const port = await freePort();
    const b = await node("b", { rendezvous: false, seeds: [`127.0.0.1:${port}`] });
    expect(b.transporter.peers).toEqual([]);
    const a = await node("a", { rendezvous: false, port });
    await a.probe.until(() => a.probe.up.includes("b"), "b to reach a");
    await b.probe.until(() => b.probe.up.includes("a"), "b to see a");
  });

  it("reads seeds from a URL with a host list", async () => {
    const a = await node("a", { rendezvous: false });
    const c = await node("c", { rendezvous: false });
    const hosts = [a, c].map((n) => `127.0.0.1:${n.transporter.address?.port}`).join(",");
    const url = `tcp://${hosts}?udp=false&rendezvous=false&host=127.0.0.1`;
    const b = (await resolveTransporter(url)) as TcpTransporter;
    live.push(b);
    await b.connect(new Probe("b").context());
    expect(b.peers.sort()).toEqual(["a", "c"]);
  });

  // Unicast to loopback stands in for multicast: nothing leaves the machine. Both nodes bind the
  // same port (SO_REUSEADDR); Linux hands unicast to one of them, which is all discovery needs.
  it.skipIf(process.platform !== "linux")("finds a peer through UDP announcements", async () => {
    const udp = { rendezvous: false, udp: true, udpAddress: "127.0.0.1", udpInterval: 50 };
    const udpPort = await freeUdpPort();
    const a = await node("a", { ...udp, udpPort });
    const b = await node("b", { ...udp, udpPort });
    await a.probe.until(() => a.probe.up.includes("b"), "a to meet b");
    await b.probe.until(() => b.probe.up.includes("a"), "b to meet a");
  });

  it("drops bad frames and the connection that sent them, and carries on", async () => {
    const { logger, lines } = recordingLogger();
    const a = await node("a", {}, new Probe("a", "test", logger));
    await a.transporter.subscribe("t");
    const port = a.transporter.address?.port ?? 0;
    const garbage = [
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // length prefix far over the cap
      Buffer.from([0, 0, 0, 1, 99]), // unknown frame type
      frame(4, Buffer.from([0, 1, 116, 120])), // MSG before HELLO
      frame(1, Buffer.from("{not json")), // HELLO that is not JSON
      frame(1, Buffer.from(JSON.stringify({ v: 1, nodeID: 7 }))), // malformed HELLO
    ];
    for (const bytesOut of garbage) await expect(sendRaw(port, bytesOut)).resolves.toBe("closed");
    // One line per address and minute, however many bad connections it opens (no stacks).
    const warnings = lines.filter((l) => l.level === 40 && /bad frame/.test(l.msg));
    expect(warnings).toHaveLength(1);
    const b = await node("b");
    await b.transporter.publish("t", bytes("still fine"));
    await a.probe.until(() => a.probe.texts("t").length === 1, "a message after the garbage");
  });

  it("refuses a peer from another namespace", async () => {
    const a = await node("a", { rendezvous: false });
    const port = a.transporter.address?.port ?? 0;
    const hello = {
      v: 1,
      nodeID: "x",
      namespace: "other",
      instance: "i",
      host: "",
      port: 1,
      subs: [],
    };
    await expect(sendRaw(port, frame(1, Buffer.from(JSON.stringify(hello))))).resolves.toBe(
      "closed",
    );
    expect(a.transporter.peers).toEqual([]);
  });

  it("drops a peer that stops reading instead of queueing for it without end", async () => {
    const maxPacketSize = 16 * 1024;
    const probe = new Probe("a", "test", silent, maxPacketSize);
    const a = await node("a", { rendezvous: false, maxBufferedBytes: 64 * 1024 }, probe);
    const port = a.transporter.address?.port ?? 0;
    const hello = {
      v: 1,
      nodeID: "sink",
      namespace: "test",
      instance: "i",
      host: "",
      port: 1,
      subs: ["t"],
    };
    const socket = connect(port, "127.0.0.1");
    socket.write(frame(1, Buffer.from(JSON.stringify(hello))));
    await a.probe.until(() => a.probe.up.includes("sink"), "the sink to connect");
    socket.pause(); // and never read again
    const chunk = new Uint8Array(maxPacketSize);
    for (let i = 0; i < 2000 && !a.probe.down.includes("sink"); i++) {
      await a.transporter.publish("t", chunk);
    }
    await a.probe.until(() => a.probe.down.includes("sink"), "the sink to be dropped");
    socket.destroy();
  });

  it("takes a payload of maxPacketSize, and drops the connection of a peer that sends more", async () => {
    const maxPacketSize = 64 * 1024;
    const { logger, lines } = recordingLogger();
    const a = await node("a", { rendezvous: false }, new Probe("a", "test", logger, maxPacketSize));
    await a.transporter.subscribe("t");
    const seed = `127.0.0.1:${a.transporter.address?.port}`;
    // b's own limit is larger: what a refuses is a's limit, checked on arrival.
    const b = await node("b", { rendezvous: false, seeds: [seed] });
    await b.probe.until(() => b.transporter.peers.includes("a"), "b to meet a");
    await b.transporter.publish("t", new Uint8Array(maxPacketSize).fill(1));
    await a.probe.until(() => a.probe.received.length === 1, "the message at the limit");
    expect(a.probe.received[0]?.data.length).toBe(maxPacketSize);
    // The frame is refused from its length prefix, before its payload is buffered.
    await b.transporter.publish("t", new Uint8Array(maxPacketSize + 65_536 + 4));
    await a.probe.until(() => a.probe.down.includes("b"), "a to drop b");
    expect(a.probe.received).toHaveLength(1);
    expect(lines.some((l) => l.level === 40 && /bad frame/.test(l.msg))).toBe(true);
  });

  it("resolves two simultaneous dials between the same pair into one session", async () => {
    const a = await node("a", { rendezvous: false });
    const b = await node("b", { rendezvous: false });
    const aAddr = `127.0.0.1:${a.transporter.address?.port}`;
    const bAddr = `127.0.0.1:${b.transporter.address?.port}`;
    await Promise.all([a.transporter.disconnect(), b.transporter.disconnect()]);
    // Each seeds the other and both start at once: both dial, one dial must win on both sides.
    const a2 = new TcpTransporter({
      ...loopback,
      rendezvous: false,
      seeds: [bAddr],
      port: port(aAddr),
    });
    const b2 = new TcpTransporter({
      ...loopback,
      rendezvous: false,
      seeds: [aAddr],
      port: port(bAddr),
    });
    live.push(a2, b2);
    const pa = new Probe("a");
    const pb = new Probe("b");
    await Promise.all([a2.connect(pa.context()), b2.connect(pb.context())]);
    await pa.until(() => pa.up.includes("b"), "a to see b");
    await pb.until(() => pb.up.includes("a"), "b to see a");
    await a2.subscribe("t");
    await b2.publish("t", bytes("one session"));
    await pa.until(() => pa.texts("t").length === 1, "the message");
    expect([pa.up, pa.down, pb.up, pb.down]).toEqual([["b"], [], ["a"], []]);
  });
});

const port = (address: string): number => Number(address.split(":")[1]);

function frame(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, body]);
}

/** Writes raw bytes to a node's port; resolves "closed" once the node hangs up on us. */
function sendRaw(port: number, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1", () => socket.write(data));
    socket.on("data", () => undefined); // the node's greeting
    socket.on("error", () => undefined); // a reset is a hang-up too
    socket.on("close", () => resolve("closed"));
    setTimeout(() => reject(new Error("the node kept a bad connection open")), 3000).unref();
  });
}

/** A UDP port nothing is bound to right now. */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4").bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
