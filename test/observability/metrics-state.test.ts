import { randomUUID } from "node:crypto";
import { defineDatabase, defineService } from "flotilla";
import { afterEach, describe, expect, it, vi } from "vitest";
import { until } from "../harness/index.js";
import { deferred, startBroker } from "../helpers.js";
import { scrape } from "./fixtures/metrics/exposition.js";

// The metrics read when scraped: circuit breakers, bulkheads, durable retries and dead letters,
// outboxes, the transporter's traffic and the nodes known.

const metricsOn = { metrics: { processMetrics: false } } as const;
const FAST = { delay: 1, maxDelay: 5, factor: 2 };

afterEach(() => {
  vi.useRealTimers();
});

describe("resilience metrics", () => {
  it("shows a circuit breaker closed, open, half-open while probing, and closed again", async () => {
    // Only Date is fake: the breaker's clock moves when told, every timer stays real.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const bus = `memory://metrics-${randomUUID()}`;
    let mode: "fail" | "wait" = "fail";
    const gate = deferred();
    const probing = deferred();
    await startBroker(
      defineService({
        name: "flaky",
        actions: {
          op: {
            async handler() {
              if (mode === "fail") throw new Error("down");
              probing.resolve();
              await gate.promise;
              return "ok";
            },
          },
        },
      }),
      { transporter: bus, nodeID: "flaky-node" },
    );
    const client = await startBroker([], {
      ...metricsOn,
      transporter: bus,
      nodeID: "client",
      retry: false,
      circuitBreaker: { minRequests: 2, threshold: 0.5, halfOpenAfter: 1_000 },
    });
    await client.waitForServices("flaky", 5_000);
    const state = async () =>
      (await scrape(client)).value("flotilla_circuit_breaker_state", {
        action: "flaky.op",
        node: "flaky-node",
      });
    expect(await state()).toBeUndefined(); // never failed: no breaker (closed)

    await expect(client.call("flaky.op")).rejects.toThrow("down");
    expect(await state()).toBe(0);
    await expect(client.call("flaky.op")).rejects.toThrow("down");
    expect(await state()).toBe(2);

    mode = "wait";
    vi.setSystemTime(Date.now() + 1_500);
    const probe = client.call("flaky.op");
    await probing.promise;
    expect(await state()).toBe(1);
    gate.resolve();
    await expect(probe).resolves.toBe("ok");
    expect(await state()).toBe(0);
  });

  it("shows a bulkhead's queue and counts the calls it sheds", async () => {
    const gate = deferred();
    const broker = await startBroker(
      defineService({
        name: "reports",
        actions: {
          build: {
            bulkhead: { concurrency: 1, queue: 1 },
            async handler() {
              await gate.promise;
              return "report";
            },
          },
        },
      }),
      metricsOn,
    );
    const running = broker.call("reports.build");
    const queued = broker.call("reports.build");
    await expect(broker.call("reports.build")).rejects.toMatchObject({ code: "QUEUE_FULL" });

    let m = await scrape(broker);
    expect(m.value("flotilla_bulkhead_queue_length", { action: "reports.build" })).toBe(1);
    expect(m.value("flotilla_bulkhead_shed_total", { action: "reports.build" })).toBe(1);
    expect(
      m.value("flotilla_calls_handled_total", { action: "reports.build", code: "QUEUE_FULL" }),
    ).toBe(1);
    expect(m.value("flotilla_calls_in_flight", { action: "reports.build" })).toBe(2);

    gate.resolve();
    await Promise.all([running, queued]);
    m = await scrape(broker);
    expect(m.value("flotilla_bulkhead_queue_length", { action: "reports.build" })).toBe(0);
    expect(m.value("flotilla_calls_handled_total", { action: "reports.build", code: "OK" })).toBe(
      2,
    );
  });
});

describe("durable event metrics", () => {
  it("counts retries and dead letters, and follows the dead-letter backlog through a replay", async () => {
    let healthy = false;
    const broker = await startBroker(
      defineService({
        name: "billing",
        events: {
          "invoice.due": {
            durable: true,
            maxRetries: 1,
            backoff: FAST,
            handler() {
              if (!healthy) throw new Error("ledger down");
            },
          },
        },
      }),
      metricsOn,
    );
    await broker.emit("invoice.due", { id: 1 });
    await until(() => broker.deadLetters.backlog === 1, { message: "a dead letter" });

    let m = await scrape(broker);
    const labels = { event: "invoice.due", group: "billing" };
    expect(m.value("flotilla_durable_retries_total", labels)).toBe(1);
    expect(m.value("flotilla_dead_letters_total", labels)).toBe(1);
    expect(m.value("flotilla_dead_letter_backlog")).toBe(1);
    expect(m.value("flotilla_events_handled_total", { ...labels, code: "INTERNAL_ERROR" })).toBe(2);

    const [letter] = await broker.deadLetters.list();
    healthy = true;
    expect(await broker.deadLetters.replay(letter!.id)).toBe(true);
    await until(
      async () =>
        (await scrape(broker)).value("flotilla_events_handled_total", { ...labels, code: "OK" }),
      { message: "the replayed event handled" },
    );
    m = await scrape(broker);
    expect(m.value("flotilla_dead_letter_backlog")).toBe(0);
    expect(m.value("flotilla_dead_letters_total", labels)).toBe(1);
  });
});

describe("outbox metrics", () => {
  it("shows each service's outbox backlog and its oldest event's age, and what it published", async () => {
    const broker = await startBroker(
      [
        defineService({
          name: "stuck",
          // Writes its outbox only: nothing publishes it, the backlog stays.
          database: defineDatabase({ outbox: { relay: false, pollInterval: 10 } }),
          actions: {
            place: {
              handler: (ctx) => ctx.transaction((tx) => tx.emit("stuck.placed", { id: 1 })),
            },
          },
        }),
        defineService({
          name: "flowing",
          database: defineDatabase({ outbox: { pollInterval: 10 } }),
          actions: {
            place: {
              handler: (ctx) => ctx.transaction((tx) => tx.emit("flowing.placed", { id: 1 })),
            },
          },
        }),
      ],
      metricsOn,
    );
    await broker.call("stuck.place");
    await broker.call("flowing.place");

    const m = await until(
      async () => {
        const scraped = await scrape(broker);
        const backlog = scraped.value("flotilla_outbox_backlog", { service: "stuck" });
        const published = scraped.value("flotilla_outbox_published_total", { service: "flowing" });
        const age = scraped.value("flotilla_outbox_oldest_age_seconds", { service: "stuck" });
        return backlog === 1 && published === 1 && (age ?? 0) > 0 && scraped;
      },
      { message: "a backlog of 1 in stuck, 1 published by flowing" },
    );
    expect(m.value("flotilla_outbox_backlog", { service: "flowing" })).toBe(0);
    expect(m.value("flotilla_outbox_oldest_age_seconds", { service: "flowing" })).toBe(0);
    expect(m.value("flotilla_outbox_failed", { service: "stuck" })).toBe(0);
    expect(m.value("flotilla_database_up", { service: "stuck" })).toBe(1);
  });
});

describe("cluster metrics", () => {
  it("counts packets and bytes per transporter, across a restart, and the nodes known", async () => {
    const bus = `memory://metrics-${randomUUID()}`;
    await startBroker(defineService({ name: "echo", actions: { say: { handler: () => "hi" } } }), {
      transporter: bus,
      nodeID: "echo-node",
    });
    const client = await startBroker([], { ...metricsOn, transporter: bus, nodeID: "client" });
    await client.waitForServices("echo", 5_000);
    await client.call("echo.say");

    const before = await scrape(client);
    const t = { transporter: "memory" };
    const sent = before.value("flotilla_transit_packets_sent_total", t)!;
    const received = before.value("flotilla_transit_packets_received_total", t)!;
    expect(sent).toBeGreaterThan(0);
    expect(received).toBeGreaterThan(0);
    expect(before.value("flotilla_transit_bytes_sent_total", t)).toBeGreaterThan(sent * 10);
    expect(before.value("flotilla_transit_bytes_received_total", t)).toBeGreaterThan(received * 10);
    expect(before.value("flotilla_nodes")).toBe(2);

    await client.stop();
    await client.start();
    await client.waitForServices("echo", 5_000);
    await client.call("echo.say");
    const after = await scrape(client);
    // Counters never go back: a restart of the broker keeps them.
    expect(after.value("flotilla_transit_packets_sent_total", t)).toBeGreaterThan(sent);
    expect(after.value("flotilla_transit_packets_received_total", t)).toBeGreaterThan(received);
  });

  it("has no traffic series without a transporter, and one node: itself", async () => {
    const broker = await startBroker([], metricsOn);
    const m = await scrape(broker);
    expect(m.all("flotilla_transit_packets_sent_total")).toEqual([]);
    expect(m.value("flotilla_nodes")).toBe(1);
    expect(m.value("flotilla_dead_letter_backlog")).toBe(0);
  });
});
