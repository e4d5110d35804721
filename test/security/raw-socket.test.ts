import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { ServiceBroker } from "flotilla";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonSerializer } from "../../src/serializers/json.js";
import { encodePacket } from "../../src/transit/codec.js";
import { PacketType } from "../../src/transit/packets.js";
import { TcpTransporter } from "../../src/transporters/tcp/transporter.js";
import { attackerContext, BAD_INFO, until } from "../harness/index.js";

// The probe of issue 12, as a test: a node in its own process attacked over raw TCP sockets
// (garbage, huge length prefixes, truncated frames, half a HELLO) and by a peer that completes
// the handshake and sends malformed INFO. The node stays up, keeps serving a legitimate peer,
// cuts the misbehaving peer, and logs a bounded number of lines.

const fixture = fileURLToPath(new URL("./fixtures/hostile-target.ts", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

let child: ChildProcess;
let port = 0;
const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
const live: { stop(): Promise<unknown> }[] = [];

beforeAll(async () => {
  child = fork(fixture, [], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    env: { ...process.env, FLOTILLA_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  let rest = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    const text = rest + chunk.toString("utf8");
    const parts = text.split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) if (line.trim() !== "") lines.push(JSON.parse(line));
  });
  port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m) => resolve((m as { port: number }).port));
    child.once("exit", (code) => reject(new Error(`target exited (${code})`)));
  });
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(live.map((x) => x.stop()));
  if (child.exitCode === null) child.kill("SIGKILL");
});

/** The target's health, asked over IPC. */
function health(): Promise<{
  ready: boolean;
  transporter: { badPackets: Record<string, Record<string, number>> };
}> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (typeof m !== "object" || m === null || !("health" in m)) return;
      child.off("message", on);
      resolve((m as { health: never }).health);
    };
    child.on("message", on);
    child.send("health");
  });
}

/** Opens a raw socket, writes `bytes`, and resolves when the target closes it (or after `wait` ms we close it). */
function attack(bytes: Uint8Array, wait = 300): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => socket.destroy(), wait);
    socket.on("connect", () => socket.write(bytes));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function frameHeader(length: number, type: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 0);
  head[4] = type;
  return head;
}

/** A tcp transporter on loopback that finds the target through its port. */
function tcpNode() {
  return new TcpTransporter({
    host: "127.0.0.1",
    port: 0,
    udp: false,
    rendezvous: false,
    seeds: [`127.0.0.1:${port}`],
  });
}

describe("a node attacked over raw sockets", () => {
  it("stays up, keeps serving a legitimate peer, cuts a peer that sends malformed INFO, and logs a few lines", async () => {
    const friend = new ServiceBroker({
      nodeID: "friend",
      logger: false,
      transporter: tcpNode(),
    });
    live.push(friend);
    await friend.start();
    await friend.waitForServices("m");
    expect(await friend.call("m.add", {})).toBe(42);
    const before = lines.length;

    const attacks: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) attacks.push(attack(randomBytes(64)));
    for (let i = 0; i < 30; i++) attacks.push(attack(frameHeader(0xffffffff, 4)));
    for (let i = 0; i < 30; i++) attacks.push(attack(frameHeader(0, 1)));
    // Truncated frames and half a HELLO: the socket closes before the rest comes.
    for (let i = 0; i < 30; i++)
      attacks.push(attack(Buffer.concat([frameHeader(1000, 4), randomBytes(10)]), 50));
    for (let i = 0; i < 30; i++)
      attacks.push(
        attack(Buffer.concat([frameHeader(200, 1), Buffer.from('{"v":1,"nodeID":')]), 50),
      );
    await Promise.all(attacks);
    expect(await friend.call("m.add", {})).toBe(42);

    // A peer that completes the handshake, then sends INFO the catalogue cannot index.
    const evil = tcpNode();
    await evil.connect(attackerContext());
    live.push({ stop: () => evil.disconnect() });
    await until(() => evil.peers.includes("target"));
    const bad = encodePacket(jsonSerializer(), PacketType.INFO, BAD_INFO as never);
    for (let i = 0; i < 30 && evil.peers.includes("target"); i++) {
      await evil.publish("flo.default.INFO", bad);
    }
    await until(() => !evil.peers.includes("target"));

    const state = await health();
    expect(state.ready).toBe(true);
    expect(state.transporter.badPackets.evil?.fields).toBeGreaterThanOrEqual(10);
    expect(await friend.call("m.add", {})).toBe(42);
    expect(child.exitCode).toBeNull();

    const during = lines.slice(before);
    expect(during.some((l) => String(l.msg).startsWith("Disconnecting 'evil'"))).toBe(true);
    // ~180 bad connections and 10+ bad packets: a handful of lines, no stacks, no errors.
    expect(during.filter((l) => l.level >= 40).length).toBeLessThanOrEqual(10);
    expect(during.some((l) => l.level >= 50 || "err" in l)).toBe(false);
  }, 30_000);
});
