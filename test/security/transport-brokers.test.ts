// Transport security on message brokers: a cluster secret signs every packet (a node without it
// can neither call, emit, nor disturb discovery); the brokers' own users (NATS authorization,
// RabbitMQ user and vhost) keep out nodes without credentials; TLS to NATS and Redis.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "../../src/index.js";
import { resolveSerializer } from "../../src/serializers/index.js";
import { encodePacket } from "../../src/transit/codec.js";
import { PacketType } from "../../src/transit/packets.js";
import { Topics } from "../../src/transit/topics.js";
import { resolveTransporter } from "../../src/transporters/index.js";
import { PrivateServer, requireServer, SHARED, until } from "../harness/index.js";
import {
  makePki,
  recordingLogger,
  SECRET,
  securedNode,
  type TestPki,
  warnings,
} from "./transport-helpers.js";

const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop().catch(() => undefined)));
});
afterAll(() => PrivateServer.stopAll());

function node(
  nodeID: string,
  transporter: string,
  options: { namespace: string; secret?: string; heard?: unknown[] },
) {
  return securedNode(brokers, { nodeID, transporter, heartbeatTimeout: 3000, ...options });
}

describe.each([
  ["nats", SHARED.nats.url],
  ["rabbitmq", SHARED.rabbitmq.url],
] as const)("a cluster secret on %s", (kind, url) => {
  beforeAll(() => requireServer(kind));

  it("keeps a node without the secret out: no calls, no events, no discovery, no spoofed DISCONNECT", async () => {
    const namespace = `sec-${randomUUID().slice(0, 8)}`;
    const heard: unknown[] = [];
    const server = await node("server", url, { namespace, secret: SECRET, heard });
    const client = await node("client", url, { namespace, secret: SECRET });
    await until(() => client.broker.registry.remote.nodes.has("server"));
    expect(await client.broker.call("math.add", { a: 1, b: 2 })).toBe(3);

    const stranger = await node("stranger", url, { namespace });
    await expect(stranger.broker.call("math.add", { a: 1, b: 1 })).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });
    // Its broadcast of the event goes nowhere it is believed; a spoofed DISCONNECT neither.
    const raw = await resolveTransporter(url);
    await raw.connect({
      nodeID: "raw",
      namespace,
      logger: recordingLogger().logger,
      maxPacketSize: 1 << 20,
      onMessage: () => {},
    });
    const json = resolveSerializer("json");
    const topics = new Topics(namespace);
    const spoof = encodePacket(json, PacketType.DISCONNECT, { sender: "server" });
    const event = encodePacket(json, PacketType.EVENT, {
      sender: "stranger",
      event: "math.added",
      payload: { evil: true },
      meta: {},
      requestID: "r",
      level: 1,
      groups: null,
      broadcast: true,
    });
    for (let i = 0; i < 10; i++) {
      await raw.publish(topics.all("DISCONNECT"), spoof);
      await raw.publish(topics.node("EVENT", "server"), event);
      expect(await client.broker.call("math.add", { a: i, b: 1 })).toBe(i + 1);
    }
    await raw.disconnect();
    await client.broker.emit("math.added", { from: "client" });
    await until(() => heard.length === 1);
    expect(heard).toEqual([{ from: "client" }]);
    expect([...server.broker.registry.remote.nodes.keys()]).toEqual(["client"]);
    expect(client.broker.registry.remote.nodes.has("server")).toBe(true);
    expect(warnings(server.lines, "Dropped an unsigned message")).toHaveLength(1);
    expect(stranger.broker.registry.remote.nodes.size).toBe(0);
  });
});

describe("NATS users and TLS", () => {
  let pki: TestPki;
  let nats: PrivateServer;
  beforeAll(async () => {
    pki = makePki();
    nats = await PrivateServer.start("nats", {
      users: [{ user: "flotilla", password: "s3cret-pass" }],
      tls: { cert: pki.cert, key: pki.key, ca: pki.ca },
    });
  });
  afterAll(() => pki.remove());

  it("lets a node with the user and the CA in, and refuses one without valid credentials", async () => {
    const namespace = "nats-users";
    const good = `nats://flotilla:s3cret-pass@${nats.address}?tlsCa=${pki.ca}`;
    await node("server", good, { namespace, heard: [] });
    const client = await node("client", good, { namespace });
    await until(() => client.broker.registry.remote.nodes.has("server"));
    expect(await client.broker.call("math.add", { a: 2, b: 2 })).toBe(4);
    const refused = [
      `nats://flotilla:wrong@${nats.address}?tlsCa=${pki.ca}&connectTimeout=2000`,
      `nats://${nats.address}?tlsCa=${pki.ca}&connectTimeout=2000`,
      // The server's certificate is checked: without the CA it is not trusted.
      `nats://flotilla:s3cret-pass@${nats.address}?tls=true&connectTimeout=2000`,
    ];
    for (const url of refused) {
      await expect(node("outsider", url, { namespace })).rejects.toMatchObject({
        code: "TRANSPORTER_NOT_CONNECTED",
      });
    }
  });
});

describe("Redis over TLS", () => {
  let pki: TestPki;
  let redis: PrivateServer;
  beforeAll(async () => {
    pki = makePki();
    redis = await PrivateServer.start("redis", {
      tls: { cert: pki.cert, key: pki.key, ca: pki.ca },
    });
  });
  afterAll(() => pki.remove());

  it("connects with rediss:// and the CA, and a plain client cannot", async () => {
    const namespace = "redis-tls";
    const url = `rediss://${redis.address}?tlsCa=${pki.ca}`;
    await node("server", url, { namespace, heard: [], secret: SECRET });
    const client = await node("client", url, { namespace, secret: SECRET });
    await until(() => client.broker.registry.remote.nodes.has("server"));
    expect(await client.broker.call("math.add", { a: 3, b: 4 })).toBe(7);
    await expect(
      node("plain", `redis://${redis.address}?connectTimeout=1000`, { namespace }),
    ).rejects.toMatchObject({ code: "TRANSPORTER_NOT_CONNECTED" });
  });
});

describe("a RabbitMQ user with its own vhost", () => {
  const user = `flotilla-test-${process.pid}`;
  const vhost = `flotilla-test-${process.pid}`;
  const ctl = (...args: string[]) => execFileSync("rabbitmqctl", args, { stdio: "pipe" });
  beforeAll(async () => {
    await requireServer("rabbitmq");
    ctl("add_vhost", vhost);
    ctl("add_user", user, "s3cret-pass");
    ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*");
  });
  afterAll(() => {
    ctl("delete_user", user);
    ctl("delete_vhost", vhost);
  });

  it("lets nodes with the user into its vhost, and refuses a wrong password or another vhost", async () => {
    const namespace = "amqp-users";
    const good = `amqp://${user}:s3cret-pass@127.0.0.1:5672/${vhost}`;
    await node("server", good, { namespace, heard: [] });
    const client = await node("client", good, { namespace });
    await until(() => client.broker.registry.remote.nodes.has("server"));
    expect(await client.broker.call("math.add", { a: 5, b: 5 })).toBe(10);
    for (const url of [
      `amqp://${user}:wrong@127.0.0.1:5672/${vhost}?connectTimeout=2000`,
      `amqp://${user}:s3cret-pass@127.0.0.1:5672/?connectTimeout=2000`,
    ]) {
      await expect(node("outsider", url, { namespace })).rejects.toMatchObject({
        code: "TRANSPORTER_NOT_CONNECTED",
      });
    }
  });
});
