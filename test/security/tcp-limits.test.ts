import { connect, type Socket } from "node:net";
import { defineService, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, until } from "../harness/index.js";

// What a stranger's bytes may cost a tcp:// node before the handshake: a frame no larger than a
// HELLO needs (refused from its length prefix, nothing buffered), and a shared budget for the
// partial frames of every connection still in its handshake, however many sockets are opened.

const live: ServiceBroker[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});

async function node(
  nodeID: string,
  port: number,
  extra = "",
  heartbeatInterval = 100,
): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    nodeID,
    logger: false,
    transporter: `tcp://?port=${port}&rendezvous=false${extra}`,
    heartbeatInterval,
    heartbeatTimeout: 30_000,
  });
  live.push(broker);
  await broker.start();
  return broker;
}

/** A raw socket to the node; `closed` settles when the node hangs up. */
async function stranger(port: number) {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  socket.on("error", () => undefined);
  socket.on("data", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  let closed = false;
  socket.once("close", () => {
    closed = true;
  });
  return { socket, isClosed: () => closed };
}

/** A frame length prefix (4 bytes) and the frame type of a MSG, then nothing more. */
function prefix(length: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 0);
  head[4] = 4;
  return head;
}

describe("tcp:// before the handshake", () => {
  it("refuses a frame larger than a HELLO from its length prefix: nothing is buffered", async () => {
    const port = await freePort();
    await node("victim", port);
    const { socket, isClosed } = await stranger(port);
    socket.write(prefix(14 * 1024 * 1024)); // under maxPacketSize, far over a HELLO
    // Well before the handshake deadline (10 s), the node hangs up.
    await until(isClosed, { timeout: 5_000, message: "the node to hang up" });
  });

  it("bounds what all half-sent frames hold together, and keeps serving its peers", async () => {
    const port = await freePort();
    const victim = await node("victim", port);
    victim.createService(
      defineService({ name: "echo", actions: { say: { handler: (ctx) => ctx.params } } }),
    );
    const strangers = await Promise.all(Array.from({ length: 30 }, () => stranger(port)));
    const chunk = Buffer.alloc(200 * 1024, 7);
    for (const { socket } of strangers) {
      socket.write(prefix(250 * 1024));
      socket.write(chunk);
    }
    // 30 × 200 KiB is 6 MiB: over the 4 MiB budget, so some are cut while the others wait.
    await until(() => strangers.filter((s) => s.isClosed()).length >= 8, {
      timeout: 5_000,
      message: "the node to cut the connections over its budget",
    });
    expect(strangers.filter((s) => !s.isClosed()).length).toBeGreaterThan(0);

    const peer = await node("peer", await freePort(), `&seeds=127.0.0.1:${port}`);
    await peer.waitForServices("echo", 10_000);
    await expect(peer.call("echo.say", { n: 1 })).resolves.toEqual({ n: 1 });
  });

  it("keeps a healthy session open past a short idle timeout: heartbeats cross it", async () => {
    const port = await freePort();
    const a = await node("a", port, "&idleTimeout=400");
    a.createService(defineService({ name: "echo", actions: { say: { handler: () => "hi" } } }));
    const b = await node("b", await freePort(), `&idleTimeout=400&seeds=127.0.0.1:${port}`);
    await b.waitForServices("echo", 10_000);
    let down = 0;
    b.createService(
      defineService({
        name: "watch",
        events: { "$node.disconnected": { handler: () => void down++ } },
      }),
    );
    // Three idle periods' worth of heartbeats cross the session; it stays up all along.
    const since = b.registry.remote.nodes.get("a")?.lastSeen ?? 0;
    await until(() => (b.registry.remote.nodes.get("a")?.lastSeen ?? 0) > since + 1_200, {
      message: "heartbeats over 1.2 s",
    });
    await expect(b.call("echo.say")).resolves.toBe("hi");
    expect(down).toBe(0);
  });

  it("drops a session that stays silent past the idle timeout", async () => {
    const port = await freePort();
    const quiet = { idle: "&idleTimeout=300", beat: 10_000 };
    const a = await node("a", port, quiet.idle, quiet.beat);
    let down = 0;
    a.createService(
      defineService({
        name: "watch",
        events: { "$node.disconnected": { handler: () => void down++ } },
      }),
    );
    await node("b", await freePort(), `${quiet.idle}&seeds=127.0.0.1:${port}`, quiet.beat);
    await until(() => a.registry.remote.nodes.has("b"), { message: "b to join" });
    // No heartbeat for 10 s: after 300 ms of silence the session is cut, and a hears it.
    await until(() => down > 0, { message: "the silent session to be dropped" });
  });
});
