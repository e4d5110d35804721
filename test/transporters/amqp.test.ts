import { randomBytes } from "node:crypto";
import { Socket } from "node:net";
import amqplib, { type ChannelModel } from "amqplib";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AmqpTransporter,
  groupQueueName,
  loadAmqplib,
  parseAmqpUrl,
} from "../../src/transporters/amqp/index.js";
import { resolveTransporter } from "../../src/transporters/index.js";
import type { TransporterContext } from "../../src/transporters/transporter.js";
import { freePort } from "../harness/index.js";
import { bytes, Probe, text, waitUntil } from "./helpers.js";
import { runTransporterSuite } from "./suite.js";

// Against the RabbitMQ of this machine (`.ci/services.sh` starts it); an unreachable server fails
// these tests, in CI and elsewhere. Every test declares its own exchange, and afterAll deletes
// every exchange and durable queue the file declared.
const URL_BASE = "amqp://guest:guest@127.0.0.1:5672";
const run = `flotest-${process.pid}-${randomBytes(3).toString("hex")}`;
const exchanges = new Set<string>();
const queues = new Set<string>();
let admin: ChannelModel;
let seq = 0;

/** A fresh exchange name, deleted in afterAll. */
function exchange(): string {
  const name = `${run}-${++seq}`;
  exchanges.add(name);
  return name;
}

/** Runs `fn` on a throwaway channel: a failed check (404) closes only that channel. */
async function onChannel<T>(fn: (ch: amqplib.Channel) => Promise<T>): Promise<T> {
  const ch = await admin.createChannel();
  ch.on("error", () => undefined);
  try {
    return await fn(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/** Ready messages in a queue, or `undefined` when it does not exist. */
const depth = (queue: string) =>
  onChannel((ch) => ch.checkQueue(queue)).then(
    (q) => q.messageCount,
    (err: { code?: number }) => {
      // 405 RESOURCE_LOCKED: another connection's exclusive queue, which exists.
      if (err.code === 405) return "exclusive";
      if (err.code === 404) return undefined;
      throw err;
    },
  );

/** The message at the head of a queue (put back at once), or `undefined` when it is empty. */
const head = (queue: string) =>
  onChannel(async (ch) => {
    const msg = await ch.get(queue);
    if (msg === false) return undefined;
    ch.nack(msg, false, true);
    return msg;
  });

beforeAll(async () => {
  admin = await amqplib.connect(URL_BASE);
});

afterAll(async () => {
  await onChannel(async (ch) => {
    for (const q of queues) await ch.deleteQueue(q);
    for (const e of exchanges) await ch.deleteExchange(e);
  });
  await admin.close();
});

const lib = await loadAmqplib();

runTransporterSuite({
  name: "amqp",
  harness: () => {
    const name = exchange();
    return {
      create: () => new AmqpTransporter(lib, { exchange: name }),
      kill: (t) => (t as AmqpTransporter).kill(),
    };
  },
  skip: [
    {
      reason:
        "not peer-aware: amqp:// reports no peers; transit notices nodes by their heartbeats " +
        "(the conformance suite covers that); restart and reconnect are tested below",
      tests: [
        "tells each side when a peer comes up",
        "reports a peer that leaves, after the messages it sent",
        "reports a peer that is killed",
        "reaches a node again after it restarts under the same nodeID",
        "keeps its subscriptions across a reconnect",
      ],
    },
  ],
});

describe("amqp transporter", () => {
  const live: AmqpTransporter[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.allSettled(live.splice(0).map((t) => t.disconnect()));
  });

  /** A connected transporter on exchange `ex`; `onMessage` replaces the probe's. */
  async function node(
    ex: string,
    nodeID: string,
    extra: { prefetch?: number; onMessage?: TransporterContext["onMessage"] } = {},
  ) {
    const transporter = new AmqpTransporter(lib, { exchange: ex, prefetch: extra.prefetch });
    const probe = new Probe(nodeID);
    const events: boolean[] = [];
    const base = probe.context();
    const context: TransporterContext = {
      ...base,
      onMessage: extra.onMessage ?? base.onMessage,
      onConnection: (up) => events.push(up),
    };
    await transporter.connect(context);
    live.push(transporter);
    return { transporter, probe, events, context };
  }

  it("sets TCP no-delay on its socket, so small frames are not held back by Nagle", async () => {
    const spy = vi.spyOn(Socket.prototype, "setNoDelay");
    const { transporter } = await node(exchange(), "a");
    const socket = transporter.session?.socket;
    expect(socket).toBeInstanceOf(Socket);
    expect(spy.mock.contexts).toContain(socket);
    expect(spy.mock.calls[spy.mock.contexts.indexOf(socket)]).toEqual([true]);
  });

  it("keeps a message for a durable group while no member is connected", async () => {
    const ex = exchange();
    const queue = groupQueueName(ex, "jobs", "workers");
    queues.add(queue);
    const first = await node(ex, "w1");
    await first.transporter.subscribe("jobs", "workers", { durable: true });
    await first.transporter.disconnect();
    expect(await depth(queue)).toBe(0); // the queue outlives its only member

    const sender = await node(ex, "sender");
    await sender.transporter.publish("jobs", bytes("kept"));
    await waitUntil(async () => (await depth(queue)) === 1, "the message to wait in the queue");

    const second = await node(ex, "w2");
    await second.transporter.subscribe("jobs", "workers", { durable: true });
    await second.probe.until(() => second.probe.texts("jobs").length === 1, "the kept message");
    expect(second.probe.texts("jobs")).toEqual(["kept"]);
    await waitUntil(async () => (await depth(queue)) === 0, "the ack");
  });

  it("marks messages persistent and drops one whose ttl passes before anyone takes it", async () => {
    const ex = exchange();
    const queue = groupQueueName(ex, "jobs", "workers");
    queues.add(queue);
    const worker = await node(ex, "w1");
    await worker.transporter.subscribe("jobs", "workers", { durable: true });
    await worker.transporter.disconnect();

    const sender = await node(ex, "sender");
    await sender.transporter.publish("jobs", bytes("late"), { ttl: 200 });
    await sender.transporter.publish("jobs", bytes("kept"), { ttl: 60_000 });
    // "late" went in first (same channel): once "kept" heads the queue, "late" was dropped.
    await waitUntil(async () => (await head(queue))?.content.toString() === "kept", "late to go");
    expect(await depth(queue)).toBe(1);
    expect((await head(queue))?.properties).toMatchObject({ deliveryMode: 2, expiration: "60000" });

    const again = await node(ex, "w2");
    await again.transporter.subscribe("jobs", "workers", { durable: true });
    await again.probe.until(() => again.probe.received.length === 1, "the kept message");
    expect(again.probe.texts("jobs")).toEqual(["kept"]);
  });

  it("gives each message of a group to one member; plain subscribers get every message", async () => {
    const ex = exchange();
    const a = await node(ex, "a");
    const b = await node(ex, "b");
    const watcher = await node(ex, "watcher");
    for (const w of [a, b]) await w.transporter.subscribe("jobs", "workers");
    await watcher.transporter.subscribe("jobs");
    const sent = Array.from({ length: 20 }, (_, i) => `j${i}`);
    for (const m of sent) await watcher.transporter.publish("jobs", bytes(m));
    await watcher.probe.until(
      () => watcher.probe.texts("jobs").length === 20,
      "the watcher's copy",
    );
    const total = () => a.probe.received.length + b.probe.received.length;
    // Polled: the last job may land on either member, and a probe re-checks only on its own events.
    await waitUntil(() => total() === 20, "every job once");
    expect([...a.probe.texts("jobs"), ...b.probe.texts("jobs")].sort()).toEqual([...sent].sort());
    expect(a.probe.received.length).toBeGreaterThan(0);
    expect(b.probe.received.length).toBeGreaterThan(0);
    expect(watcher.probe.texts("jobs")).toEqual(sent);
  });

  it("holds at most `prefetch` unacked deliveries per member while handlers run", async () => {
    const ex = exchange();
    const queue = groupQueueName(ex, "slow", "slow");
    const releases: (() => void)[] = [];
    const received: string[] = [];
    const worker = await node(ex, "worker", {
      prefetch: 2,
      // A handler that returns a promise keeps the delivery unacked until it settles.
      onMessage: (_topic, data) => {
        received.push(text(data));
        return new Promise<void>((resolve) => releases.push(resolve));
      },
    });
    await worker.transporter.subscribe("slow", "slow");
    const sender = await node(ex, "sender");
    for (let i = 0; i < 10; i++) await sender.transporter.publish("slow", bytes(`m${i}`));
    await waitUntil(
      async () => received.length === 2 && (await depth(queue)) === 8,
      "two deliveries out, eight ready",
    );
    releases.shift()?.();
    await waitUntil(
      async () => received.length === 3 && (await depth(queue)) === 7,
      "one more after one ack",
    );
    while (received.length < 10) {
      releases.shift()?.();
      await waitUntil(() => releases.length > 0 || received.length === 10, "the next delivery");
    }
    expect(received).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it("redelivers to another member what a killed member had not acked", async () => {
    const ex = exchange();
    const got: string[] = [];
    const holder = await node(ex, "holder", {
      onMessage: (_t, data) => {
        got.push(text(data));
        return new Promise(() => undefined); // never finishes: the delivery stays unacked
      },
    });
    await holder.transporter.subscribe("jobs", "workers");
    const sender = await node(ex, "sender");
    await sender.transporter.subscribe("jobs", "workers"); // a second member, acks at once
    await sender.transporter.publish("jobs", bytes("one"));
    await sender.transporter.publish("jobs", bytes("two"));
    await waitUntil(() => got.length + sender.probe.received.length === 2, "both delivered");
    await holder.transporter.kill();
    await sender.probe.until(() => sender.probe.received.length === 2, "the redelivery");
    expect(sender.probe.texts("jobs").sort()).toEqual(["one", "two"]);
  });

  it("keeps publish order when amqplib's buffer fills, and delivers everything", async () => {
    const ex = exchange();
    const a = await node(ex, "a");
    const b = await node(ex, "b");
    await b.transporter.subscribe("t");
    const sent = Array.from({ length: 5000 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((m) => a.transporter.publish("t", bytes(m))));
    await b.probe.until(() => b.probe.received.length === 5000, "all 5000", 15_000);
    expect(b.probe.texts("t")).toEqual(sent);
  });

  it("reconnects after losing its connection: reports it, fails publishes meanwhile, binds again", async () => {
    const ex = exchange();
    const a = await node(ex, "a");
    const b = await node(ex, "b");
    await b.transporter.subscribe("t");
    await b.transporter.subscribe("jobs", "workers");
    let duringOutage: Promise<unknown> | undefined;
    const context: TransporterContext = {
      ...b.context,
      onConnection: (up) => {
        b.events.push(up);
        if (!up) duringOutage = b.transporter.publish("t", bytes("x")).catch((e: unknown) => e);
      },
    };
    await b.transporter.disconnect();
    await b.transporter.connect(context);
    const before = b.transporter.session?.queue;
    b.transporter.session?.socket?.destroy(new Error("cut")); // the connection drops under it
    await waitUntil(() => b.events.join() === "false,true", "down, then up again");
    expect(await duringOutage).toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
      status: 503,
      retryable: true,
    });
    expect(b.transporter.session?.queue).not.toBe(before);
    await a.transporter.publish("t", bytes("after"));
    await a.transporter.publish("jobs", bytes("job"));
    await b.probe.until(() => b.probe.received.length === 2, "both messages after reconnect");
    // Two queues (the node's own, the group's): no order between them, only within each.
    expect(b.probe.log.filter((l) => l.startsWith("msg:")).sort()).toEqual([
      "msg:jobs:job",
      "msg:t:after",
    ]);
  });

  it("deletes a node's queue when it disconnects, and when it is killed", async () => {
    const ex = exchange();
    const a = await node(ex, "a");
    const b = await node(ex, "b");
    const [qa = "", qb = ""] = [a.transporter.session?.queue, b.transporter.session?.queue];
    expect([await depth(qa), await depth(qb)]).toEqual(["exclusive", "exclusive"]);
    await a.transporter.disconnect();
    await b.transporter.kill();
    await waitUntil(async () => (await depth(qa)) === undefined, "a's queue gone");
    await waitUntil(async () => (await depth(qb)) === undefined, "b's queue gone");
  });

  it("fails fast and retryably when not connected, or when the server is unreachable", async () => {
    const t = new AmqpTransporter(lib, { exchange: exchange() });
    await expect(t.publish("t", bytes("x"))).rejects.toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
      status: 503,
      retryable: true,
    });
    const closed = await freePort();
    const started = Date.now();
    const unreachable = new AmqpTransporter(lib, { hosts: [{ host: "127.0.0.1", port: closed }] });
    const err = await unreachable.connect(new Probe("x").context()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TRANSPORTER_NOT_CONNECTED", retryable: true });
    expect((err as Error).message).toContain(`127.0.0.1:${closed}`);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("amqp:// URLs and loading", () => {
  it("reads hosts, credentials, vhost and options, and never shows the password", async () => {
    const t = await resolveTransporter(
      "amqp://app:s%40cret@mq1:5673/shop?prefetch=16&exchange=ex&heartbeat=5",
    );
    expect(t).toBeInstanceOf(AmqpTransporter);
    const many = (await resolveTransporter("amqp://mq1:5673,mq2")) as AmqpTransporter;
    expect(many.options.hosts).toEqual([
      { host: "mq1", port: 5673 },
      { host: "mq2", port: 5672 },
    ]);
    expect((t as AmqpTransporter).options).toMatchObject({
      hosts: [{ host: "mq1", port: 5673 }],
      username: "app",
      password: "s@cret",
      vhost: "shop",
      prefetch: 16,
      exchange: "ex",
      heartbeat: 5,
    });
    expect(parseAmqpUrl(new URL(`${URL_BASE}/?prefetch=2`)).prefetch).toBe(2);
    expect(t.capabilities).toEqual({
      balancing: true,
      durable: true,
      persistentQueues: true,
      peerAware: false,
    });
    expect(parseAmqpUrl(new URL("amqp://h/%2f")).vhost).toBe("/");
    for (const bad of ["amqp://u:s3cret@h?prefech=1", "amqp://u:s3cret@h?prefetch=-1"]) {
      const err = await resolveTransporter(bad).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "INVALID_TRANSPORTER_URL" });
      expect((err as Error).message).not.toMatch(/s3cret/);
    }
  });

  it("without amqplib installed, says which line to run", async () => {
    const missing = Object.assign(new Error("Cannot find package 'amqplib'"), {
      code: "ERR_MODULE_NOT_FOUND",
    });
    const err = await loadAmqplib(() => Promise.reject(missing)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "MISSING_DEPENDENCY", status: 500, cause: missing });
    expect((err as Error).message.split("\n")).toContain("npm install amqplib");
  });
});
