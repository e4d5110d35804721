// Transport security on tcp://: a cluster secret proven in the handshake, senders bound to their
// session, TLS, and the warning of a node that listens beyond this machine with no secret.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "../../src/index.js";
import { resolveSerializer } from "../../src/serializers/index.js";
import { encodePacket } from "../../src/transit/codec.js";
import { PacketType } from "../../src/transit/packets.js";
import {
  encodeHello,
  encodeMsgHeader,
  type Frame,
  FrameDecoder,
} from "../../src/transporters/tcp/frames.js";
import {
  parseTcpUrl,
  resolveTcpOptions,
  TcpTransporter,
} from "../../src/transporters/tcp/index.js";
import { until } from "../harness/index.js";
import { makePki, SECRET, securedNode, type TestPki, warnings } from "./transport-helpers.js";

let dir: string;
const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop().catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
});

/** A broker on tcp:// in this test's own rendezvous directory. */
async function node(
  nodeID: string,
  options: { secret?: string; url?: string; heard?: unknown[] } = {},
) {
  const { url, ...rest } = options;
  const transporter = new TcpTransporter({
    ...(url === undefined ? {} : urlOptions(url)),
    dir,
    udp: false,
  });
  const made = await securedNode(brokers, {
    nodeID,
    transporter,
    heartbeatTimeout: 2000,
    ...rest,
  });
  return { ...made, transporter };
}
const urlOptions = (url: string) => parseTcpUrl(url);

describe("a cluster secret on tcp://", () => {
  beforeAll(() => {});
  it("lets nodes with the secret call each other, and keeps out a node without it", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flotilla-sec-"));
    const heard: unknown[] = [];
    const server = await node("server", { secret: SECRET, heard });
    const client = await node("client", { secret: SECRET });
    await until(() => client.broker.registry.remote.nodes.has("server"));
    expect(await client.broker.call("math.add", { a: 1, b: 2 })).toBe(3);

    const stranger = await node("stranger");
    const wrong = await node("wrong", { secret: "another secret, just as long" });
    // Both sides say why, in one line each.
    await until(() => warnings(server.lines, "refusing a peer").length >= 2);
    await until(() => warnings(stranger.lines, "refused").length >= 1);
    await until(() => warnings(wrong.lines, "refused us: wrong cluster secret").length >= 1);
    expect(warnings(server.lines, "it has no cluster secret")).not.toHaveLength(0);
    expect(warnings(server.lines, "proof of the cluster secret is wrong")).not.toHaveLength(0);

    // No call, no event, no discovery: the strangers see nobody and nobody sees them.
    for (const outsider of [stranger, wrong]) {
      await expect(outsider.broker.call("math.add", { a: 1, b: 1 })).rejects.toMatchObject({
        code: "SERVICE_NOT_FOUND",
      });
      await outsider.broker.emit("math.added", { from: outsider.broker.nodeID });
      expect(outsider.transporter.peers).toEqual([]);
      expect(outsider.broker.registry.remote.nodes.size).toBe(0);
    }
    await client.broker.emit("math.added", { from: "client" });
    await until(() => heard.length === 1);
    expect(heard).toEqual([{ from: "client" }]);
    expect([...server.broker.registry.remote.nodes.keys()]).toEqual(["client"]);
    expect(server.transporter.peers).toEqual(["client"]);
  });

  it("never runs a stranger's request sent over a raw socket", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flotilla-sec-"));
    const ran: unknown[] = [];
    const server = await node("server", { secret: SECRET, heard: ran });
    const port = server.transporter.address?.port ?? 0;
    const raw = await rawClient(port);
    raw.socket.write(
      encodeHello({
        v: 1,
        nodeID: "evil",
        namespace: "",
        instance: "x",
        host: "127.0.0.1",
        port: 1,
        subs: [],
      }),
    );
    const request = encodePacket(resolveSerializer("json"), PacketType.EVENT, {
      sender: "evil",
      event: "math.added",
      payload: { evil: true },
      meta: {},
      requestID: "r",
      level: 1,
      groups: null,
      broadcast: true,
    });
    raw.socket.write(encodeMsgHeader("flo.default.EVENT.server", request.length));
    raw.socket.write(request);
    await until(() => raw.frames.some((f) => f.type === "deny"), { message: "a DENY" });
    await until(() => raw.closed());
    expect(raw.frames.map((f) => f.type)).toEqual(["hello", "deny"]);
    expect(ran).toEqual([]);
  });
});

describe("sender binding on tcp://", () => {
  it("drops a DISCONNECT naming another live node, so calls to it keep working", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flotilla-sec-"));
    // No secret at all: the spoofer is a member of the cluster, yet cannot speak for another node.
    const target = await node("target", { heard: [] });
    const victim = await node("victim");
    await until(() => victim.broker.registry.remote.nodes.has("target"));
    const raw = await rawClient(victim.transporter.address?.port ?? 0);
    raw.socket.write(
      encodeHello({
        v: 1,
        nodeID: "spoofer",
        namespace: "",
        instance: "x",
        host: "127.0.0.1",
        port: 1,
        subs: [],
      }),
    );
    await until(() => raw.frames.some((f) => f.type === "ack"));
    const disconnect = encodePacket(resolveSerializer("json"), PacketType.DISCONNECT, {
      sender: "target",
    });
    for (let i = 0; i < 20; i++) {
      raw.socket.write(encodeMsgHeader("flo.default.DISCONNECT", disconnect.length));
      raw.socket.write(disconnect);
      expect(await victim.broker.call("math.add", { a: i, b: 1 })).toBe(i + 1);
    }
    expect(victim.broker.registry.remote.nodes.has("target")).toBe(true);
    expect(warnings(victim.lines, "sender is not its peer")).toHaveLength(1);
    raw.socket.destroy();
    void target;
  });
});

describe("TLS on tcp://", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki.remove());
  const tls = (cert: string, key: string) =>
    `tcps://?tlsCert=${cert}&tlsKey=${key}&tlsCa=${pki.ca}&tlsMutual=true`;

  it("connects nodes over mutual TLS and refuses a plain node and one with a stranger's certificate", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flotilla-sec-"));
    const server = await node("server", { url: tls(pki.cert, pki.key), heard: [], secret: SECRET });
    const client = await node("client", { url: tls(pki.cert, pki.key), secret: SECRET });
    await until(() => client.broker.registry.remote.nodes.has("server"));
    expect(await client.broker.call("math.add", { a: 2, b: 3 })).toBe(5);

    const plain = await node("plain", { secret: SECRET });
    const stranger = await node("stranger", {
      url: tls(pki.strangerCert, pki.strangerKey),
      secret: SECRET,
    });
    await until(() => warnings(server.lines, "").length >= 0);
    for (const outsider of [plain, stranger]) {
      await expect(outsider.broker.call("math.add", { a: 1, b: 1 })).rejects.toMatchObject({
        code: "SERVICE_NOT_FOUND",
      });
      expect(outsider.transporter.peers).toEqual([]);
    }
    expect([...server.broker.registry.remote.nodes.keys()]).toEqual(["client"]);
  });

  it("reads tcps:// and its file options, and refuses TLS without a certificate", () => {
    const context = { namespace: "", maxPacketSize: 1024 };
    const options = parseTcpUrl(tls(pki.cert, pki.key));
    expect(options).toMatchObject({ tls: true, tlsMutual: true, tlsCa: pki.ca });
    expect(resolveTcpOptions(options, context).tls?.mutual).toBe(true);
    expect(() => resolveTcpOptions(parseTcpUrl("tcps://"), context, {})).toThrow(
      /needs a certificate and a key/,
    );
    const fromEnv = { FLOTILLA_TLS_CERT: pki.cert, FLOTILLA_TLS_KEY: pki.key };
    expect(
      resolveTcpOptions(parseTcpUrl("tcp://?tls=true"), context, fromEnv).tls?.ca,
    ).toBeUndefined();
  });
});

describe("the start-up warning", () => {
  it("warns when a node listens beyond this machine with no secret, and not with one", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flotilla-sec-"));
    const open = await node("open", { url: "tcp://?host=0.0.0.0" });
    const closed = await node("closed", { url: "tcp://?host=0.0.0.0", secret: SECRET });
    const local = await node("local");
    const text = "no cluster secret: anyone who can reach this port can join";
    expect(warnings(open.lines, text)).toHaveLength(1);
    expect(warnings(closed.lines, text)).toHaveLength(0);
    expect(warnings(local.lines, text)).toHaveLength(0);
  });
});

/** A raw TCP client of a node: the frames it got, as an attacker would see them. */
async function rawClient(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  const frames: Frame[] = [];
  const decoder = new FrameDecoder(1 << 20);
  let closed = false;
  socket.on("data", (chunk) => frames.push(...decoder.push(chunk)));
  socket.on("close", () => {
    closed = true;
  });
  socket.on("error", () => undefined);
  return { socket, frames, closed: () => closed };
}
