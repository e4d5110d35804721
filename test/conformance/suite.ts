import {
  type BrokerOptions,
  defineService,
  PacketTooLargeError,
  RequestTimeoutError,
  ServiceBroker,
  ServiceNotAvailableError,
  ServiceNotFoundError,
  ValidationError,
} from "flotilla";
import { crashNode, waitForEvent } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";
import { echoService, Gate, listenerService, OutOfStockError, relay } from "./services.js";

/** How the suite gets transporters for one transporter kind. */
export interface ConformanceTarget {
  name: string;
  /** A transporter option for one broker of a cluster; called once per broker of a test. */
  transporter: () => BrokerOptions["transporter"];
  /** Extra broker options (namespace, heartbeat timing, ...). */
  options?: () => BrokerOptions;
  /** Tests this transporter cannot run, each with the reason. */
  skip?: { reason: string; tests: string[] }[];
}

let seq = 0;

/**
 * The behaviour every transporter must give the broker, end to end through the public API:
 * calls, errors, events, discovery, node loss, timeouts and bad input.
 */
export function runTransporterConformance(target: ConformanceTarget): void {
  const live: ServiceBroker[] = [];
  const namespace = `conf${process.pid}x${Date.now().toString(36)}`;
  const skipped = new Map(target.skip?.flatMap((s) => s.tests.map((t) => [t, s.reason])) ?? []);
  const test = (name: string, fn: () => Promise<void>, timeout?: number) => {
    const reason = skipped.get(name);
    if (reason !== undefined) it.skip(`${name} (skipped: ${reason})`, fn);
    else it(name, fn, timeout);
  };

  const node = (tag: string, extra: BrokerOptions = {}) => {
    seq += 1;
    const broker = new ServiceBroker({
      nodeID: `${tag}-${seq}`,
      namespace: `${namespace}-${currentTest}`,
      logger: false,
      transporter: target.transporter(),
      heartbeatInterval: 100,
      heartbeatTimeout: 1_000,
      ...target.options?.(),
      ...extra,
    });
    live.push(broker);
    return broker;
  };
  let currentTest = 0;

  afterEach(async () => {
    currentTest += 1;
    await Promise.allSettled(live.splice(0).map((b) => b.stop()));
  });

  /** A caller node and one node serving `echo`, connected and aware of each other. */
  const pair = async (gate?: Gate) => {
    const server = node("server");
    server.createService(echoService("server", gate));
    const client = node("client");
    client.createService(relay);
    await Promise.all([server.start(), client.start()]);
    await client.waitForServices("echo", 5_000);
    return { server, client };
  };

  describe(`transporter conformance: ${target.name}`, () => {
    test("calls a remote action and gets the result", async () => {
      const { client } = await pair();
      await expect(client.call("echo.say", { hello: "world" })).resolves.toEqual({
        params: { hello: "world" },
        node: "server",
      });
    });

    test("carries a 1 MB payload both ways", async () => {
      const { client } = await pair();
      const blob = "x".repeat(1024 * 1024);
      await expect(client.call("echo.size", { blob })).resolves.toEqual({
        length: blob.length,
        node: "server",
      });
      const back = await client.call<{ params: { blob: string } }>("echo.say", { blob });
      expect(back.params.blob.length).toBe(blob.length);
    });

    /** A client and a server, both with this `maxPacketSize`, the server with `echo` and `mail`. */
    const limited = async (limit: number, log: string[] = []) => {
      const server = node("server", { maxPacketSize: limit });
      server.createService(echoService("server"));
      server.createService(listenerService("mail", "server", log));
      const client = node("client", { maxPacketSize: limit });
      await Promise.all([server.start(), client.start()]);
      await client.waitForServices("echo", 5_000);
      await waitForListeners(client, [server]);
      return { server, client };
    };
    // Over NATS's default max_payload (1 MiB), so a packet near the limit travels in parts.
    const limit = 3 * 1024 * 1024;

    test("carries a packet just under maxPacketSize both ways", async () => {
      const { client } = await limited(limit);
      // A packet's envelope (IDs, meta, header) is well under 4 KiB.
      const fits = "x".repeat(limit - 4096);
      const back = await client.call<{ params: { blob: string } }>("echo.say", { blob: fits });
      expect(back.params.blob.length).toBe(fits.length);
    });

    test("refuses a call over maxPacketSize before it leaves: the caller gets PACKET_TOO_LARGE", async () => {
      const { client } = await limited(limit);
      const call = await client
        .call("echo.size", { blob: "x".repeat(limit) })
        .catch((e: unknown) => e);
      expect(call).toBeInstanceOf(PacketTooLargeError);
      expect(call).toMatchObject({
        code: "PACKET_TOO_LARGE",
        status: 413,
        retryable: false,
        data: { limit },
      });
      await expect(client.call("echo.say", { ok: 1 })).resolves.toMatchObject({
        params: { ok: 1 },
      });
    });

    test("refuses an answer over maxPacketSize on the server, which tells the caller PACKET_TOO_LARGE", async () => {
      const { client } = await limited(limit);
      await expect(
        client.call("echo.grow", { length: limit }, { timeout: 5_000 }),
      ).rejects.toMatchObject({ code: "PACKET_TOO_LARGE" });
    });

    test("refuses an event over maxPacketSize before it leaves: emit rejects with PACKET_TOO_LARGE", async () => {
      const log: string[] = [];
      const { client } = await limited(limit, log);
      await expect(
        client.emit("order.placed", { id: 1, blob: "x".repeat(limit) }),
      ).rejects.toMatchObject({ code: "PACKET_TOO_LARGE", status: 413 });
      // Nothing of it reached the server, and the next event does.
      await client.emit("order.placed", { id: 2 });
      await until(() => log.length === 1);
      expect(log).toEqual(["mail@server:order.placed:2"]);
    });

    test("answers 1,000 concurrent calls in flight, each with its own result", async () => {
      const { client } = await pair();
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          client.call<{ params: { i: number } }>("echo.say", { i }),
        ),
      );
      expect(results.map((r) => r.params.i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    });

    test("rebuilds errors from the other node as their classes", async () => {
      const { client } = await pair();
      const invalid = await client.call("echo.typed", { qty: -1 }).catch((e: unknown) => e);
      expect(invalid).toBeInstanceOf(ValidationError);
      expect(invalid).toMatchObject({
        code: "VALIDATION_ERROR",
        status: 422,
        data: [{ path: ["qty"] }],
      });
      const custom = await client.call("echo.stock").catch((e: unknown) => e);
      expect(custom).toBeInstanceOf(OutOfStockError);
      expect(custom).toMatchObject({ code: "OUT_OF_STOCK", status: 409, data: { sku: "A-1" } });
      expect((custom as OutOfStockError).nodeID).toMatch(/^server-/);
      await expect(client.call("echo.bug")).rejects.toMatchObject({
        name: "TypeError",
        code: "INTERNAL_ERROR",
      });
      await expect(client.call("echo.unserializable")).rejects.toMatchObject({
        code: "RESULT_NOT_SERIALIZABLE",
      });
      await expect(client.call("echo.nothing")).rejects.toBeInstanceOf(ServiceNotFoundError);
      await expect(client.call("echo.local")).rejects.toBeInstanceOf(ServiceNotFoundError);
    });

    test("carries meta, requestID, parentID, level, caller, headers and the budget across nodes", async () => {
      const { client } = await pair();
      const seen = await client.call<Record<string, unknown>>(
        "relay.ctx",
        {},
        { meta: { tenant: "t" }, requestID: "r-1" },
      );
      expect(seen).toMatchObject({
        meta: { tenant: "t", added: true },
        requestID: "r-1",
        level: 2,
        caller: "relay",
        headers: { traceparent: "00-abc-def-01" },
      });
      expect(seen.parentID).toEqual(expect.any(String));
      expect(seen.callerNodeID).toMatch(/^client-/);
      const budget = await client.call<{ remaining: number }>("relay.budget");
      expect(budget.remaining).toBeGreaterThan(0);
      expect(budget.remaining).toBeLessThanOrEqual(2000);
    });

    test("balances calls across instances round-robin", async () => {
      const a = node("a");
      a.createService(echoService("a"));
      const b = node("b");
      b.createService(echoService("b"));
      const client = node("client");
      await Promise.all([a.start(), b.start(), client.start()]);
      await waitForNodes(client, 2);
      const nodes = await Promise.all(
        Array.from({ length: 10 }, () =>
          client.call<{ node: string }>("echo.say").then((r) => r.node),
        ),
      );
      expect(nodes.filter((n) => n === "a").length).toBe(5);
      expect(nodes.filter((n) => n === "b").length).toBe(5);
    });

    test("emit reaches one instance per group; broadcast reaches every instance", async () => {
      const log: string[] = [];
      const a = node("a");
      a.createService(listenerService("mail", "a", log));
      a.createService(listenerService("audit", "a", log));
      const b = node("b");
      b.createService(listenerService("mail", "b", log));
      const emitter = node("emitter");
      await Promise.all([a.start(), b.start(), emitter.start()]);
      await waitForListeners(emitter, [a, b]);

      const delivered = countEvents([a, b], "order.placed", 2);
      await emitter.emit("order.placed", { id: 1 });
      await delivered;
      expect(log.filter((l) => l.startsWith("mail@")).length).toBe(1);
      expect(log.filter((l) => l.startsWith("audit@")).length).toBe(1);

      log.length = 0;
      const all = countEvents([a, b], "order.shipped", 3);
      await emitter.broadcast("order.shipped", { id: 2 });
      await all;
      expect(log.sort()).toEqual([
        "audit@a:order.shipped:2",
        "mail@a:order.shipped:2",
        "mail@b:order.shipped:2",
      ]);

      log.length = 0;
      const onlyAudit = countEvents([a, b], "order.paid", 1);
      await emitter.emit("order.paid", { id: 3 }, { groups: ["audit"] });
      await onlyAudit;
      expect(log).toEqual(["audit@a:order.paid:3"]);
    });

    test("balances one group's events across its instances on different nodes", async () => {
      const log: string[] = [];
      const a = node("a");
      a.createService(listenerService("worker", "a", log));
      const b = node("b");
      b.createService(listenerService("worker", "b", log));
      const emitter = node("emitter");
      await Promise.all([a.start(), b.start(), emitter.start()]);
      await waitForListeners(emitter, [a, b]);
      const done = countEvents([a, b], "order.*", 4);
      for (let id = 0; id < 4; id++) await emitter.emit("order.job", { id });
      await done;
      expect(log.filter((l) => l.startsWith("worker@a")).length).toBe(2);
      expect(log.filter((l) => l.startsWith("worker@b")).length).toBe(2);
    });

    test("discovers a node that starts later, and waitForServices waits for it", async () => {
      const client = node("client");
      client.createService(
        defineService({ name: "watcher", events: { "$node.connected": { handler: () => {} } } }),
      );
      await client.start();
      const connected = waitForEvent(client, "$node.connected", undefined, { timeout: 5_000 });
      const ready = client.waitForServices("echo", 5_000);
      const late = node("late");
      late.createService(echoService("late"));
      await late.start();
      await ready;
      await expect(client.call("echo.say")).resolves.toMatchObject({ node: "late" });
      expect((await connected).params).toMatchObject({ nodeID: late.nodeID, reconnected: false });
    });

    test("a node that stops gracefully takes no new calls, finishes the ones in flight, then leaves", async () => {
      const gate = new Gate();
      const { server, client } = await pair(gate);
      const pending = client.call("echo.hold", {}, { timeout: 10_000 });
      await until(() => gate.entered.count === 1);
      const stopping = server.stop();
      // The leave is announced first: the client stops routing to the node while it drains.
      await until(() => !client.registry.isAvailable("echo"));
      expect(server.health().ready).toBe(false);
      gate.open();
      await expect(pending).resolves.toBe("server");
      await stopping;
      await until(() => !client.registry.remote.nodes.has(server.nodeID));
      await expect(client.call("echo.say")).rejects.toBeInstanceOf(ServiceNotFoundError);
    });

    test("calls still in flight when the drain timeout ends fail at once, retryably", async () => {
      const gate = new Gate();
      const server = node("server", { drainTimeout: 200 });
      server.createService(echoService("server", gate));
      const client = node("client");
      await Promise.all([server.start(), client.start()]);
      await client.waitForServices("echo", 5_000);
      const pending = client.call("echo.hold", {}, { timeout: 10_000 }).catch((e: unknown) => e);
      await until(() => gate.entered.count === 1);
      const started = Date.now();
      await server.stop();
      const err = await pending;
      expect(err).toBeInstanceOf(ServiceNotAvailableError);
      expect(err).toMatchObject({ retryable: true });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    test("a node that crashes is noticed: pending calls fail fast and retryably, the registry drops it", async () => {
      const gate = new Gate();
      const { server, client } = await pair(gate);
      const pending = client.call("echo.hold", {}, { timeout: 10_000 }).catch((e: unknown) => e);
      await until(() => gate.entered.count === 1);
      const started = Date.now();
      await crashNode(server);
      const err = await pending;
      expect(err).toBeInstanceOf(ServiceNotAvailableError);
      expect(err).toMatchObject({ retryable: true });
      // Within the heartbeat timeout (1 s here) plus one heartbeat.
      expect(Date.now() - started).toBeLessThan(2_500);
      await until(() => !client.registry.isAvailable("echo"));
    });

    test("times out a slow remote call with a retryable REQUEST_TIMEOUT", async () => {
      const { client } = await pair();
      const err = await client.call("echo.slow", {}, { timeout: 50 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestTimeoutError);
      expect(err).toMatchObject({ retryable: true, status: 504 });
    });

    test("drops malformed packets and keeps serving", async () => {
      const { server, client } = await pair();
      const other = target.options?.().serializer === "msgpack" ? "json" : "msgpack";
      const garbage = node("garbage", { serializer: other });
      await garbage.start();
      // A node with another serializer is refused, not misread.
      await garbage.call("echo.say").catch(() => undefined);
      const transit = (await import("../../src/broker/internals.js"))
        .getInternals(client)
        .transit();
      const core = transit?.core;
      if (core === undefined) throw new Error("client has no transit");
      for (const bytes of [
        new Uint8Array([1, 1, 1, 123, 34]),
        new Uint8Array([]),
        new Uint8Array([9, 9, 9]),
        new Uint8Array([1, 1, 42, 123, 125]),
      ]) {
        await core.transporter.publish(core.topics.node("REQ", server.nodeID), bytes);
      }
      await expect(client.call("echo.say", { ok: 1 })).resolves.toMatchObject({
        params: { ok: 1 },
      });
    });
  });
}

/** Waits until `count` other nodes have announced started services. */
async function waitForNodes(broker: ServiceBroker, count: number): Promise<void> {
  await until(
    () =>
      [...broker.registry.remote.nodes.values()].filter((n) => n.info.services.length > 0).length >=
      count,
  );
}

async function waitForListeners(broker: ServiceBroker, nodes: ServiceBroker[]): Promise<void> {
  await until(() =>
    nodes.every((n) => (broker.registry.remote.nodes.get(n.nodeID)?.info.services.length ?? 0) > 0),
  );
}

/** Resolves once `count` deliveries of `event` were handled across `brokers`. */
function countEvents(brokers: ServiceBroker[], event: string, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve, reject) => {
    const stops = brokers.map((b) =>
      b.events.observe((ctx) => {
        if (ctx.name !== event && !event.endsWith("*")) return;
        seen += 1;
        if (seen === count) finish();
      }),
    );
    const timer = setTimeout(
      () => finish(new Error(`only ${seen} of ${count} '${event}' deliveries`)),
      5_000,
    );
    const finish = (err?: Error) => {
      clearTimeout(timer);
      for (const stop of stops) stop();
      if (err) reject(err);
      else resolve();
    };
  });
}
