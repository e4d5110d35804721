import { defineService, ServiceSchemaError } from "flotilla";
import { createTestCluster } from "flotilla/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseCron } from "../../src/timers/cron.js";
import { parseDuration } from "../../src/timers/duration.js";
import { until } from "../harness/index.js";
import { deferred, startBroker, testBroker } from "../helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("schedules", () => {
  it("parses durations", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration(250)).toBe(250);
    expect(() => parseDuration("soon")).toThrow(ServiceSchemaError);
    expect(() => parseDuration("5 parsecs")).toThrow(/not a duration/);
    expect(() => parseDuration(-1)).toThrow(ServiceSchemaError);
  });

  it("computes the next cron time in local time", () => {
    const at = (y: number, mo: number, d: number, h: number, mi: number) =>
      new Date(y, mo - 1, d, h, mi).getTime();
    const from = at(2026, 11, 27, 10, 7);
    expect(parseCron("*/5 * * * *").next(from)).toBe(at(2026, 11, 27, 10, 10));
    expect(parseCron("0 * * * *").next(from)).toBe(at(2026, 11, 27, 11, 0));
    expect(parseCron("30 2 * * *").next(from)).toBe(at(2026, 11, 28, 2, 30));
    expect(parseCron("0 9 * * 1-5").next(at(2026, 11, 27, 10, 0))).toBe(at(2026, 11, 30, 9, 0)); // Fri → Mon
    expect(parseCron("@monthly").next(from)).toBe(at(2026, 12, 1, 0, 0));
    expect(parseCron("0 0 29 2 *").next(from)).toBe(at(2028, 2, 29, 0, 0));
    expect(() => parseCron("61 * * * *")).toThrow(/not a valid minute/);
    expect(() => parseCron("* * *")).toThrow(/five fields/);
  });
});

describe("timers", () => {
  it("run periodically while the service is started, and never overlap a busy run", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let started = 0;
    let gate = deferred();
    const broker = await startBroker(
      defineService({
        name: "sweeper",
        timers: {
          sweep: {
            every: "1s",
            async handler(ctx) {
              expect(ctx.name).toBe("sweeper.sweep");
              started += 1;
              await gate.promise;
            },
          },
        },
      }),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(started).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000); // busy: three ticks skipped
    expect(started).toBe(1);
    gate.resolve();
    gate = deferred();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(started).toBe(2);
    gate.resolve();
    await broker.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(started).toBe(2);
  });

  it("a failing run is logged and the timer keeps going", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let runs = 0;
    await startBroker(
      defineService({
        name: "flaky",
        timers: {
          tick: {
            every: 100,
            runOnStart: true,
            handler() {
              runs += 1;
              throw new Error("boom");
            },
          },
        },
      }),
    );
    await vi.advanceTimersByTimeAsync(350);
    expect(runs).toBe(4);
  });

  it("rejects a timer without a schedule or with a bad one, at createService", () => {
    const broker = testBroker();
    const missing = { name: "a", timers: { t: { handler: () => {} } } };
    expect(() => broker.createService(missing as never)).toThrow(/needs either 'every' or 'cron'/);
    const both = {
      name: "b",
      timers: { t: { every: "1s", cron: "* * * * *", handler: () => {} } },
    };
    expect(() => broker.createService(both as never)).toThrow(ServiceSchemaError);
    const bad = { name: "c", timers: { t: { cron: "every day", handler: () => {} } } };
    expect(() => broker.createService(bad as never)).toThrow(/five fields/);
  });

  it("a singleton timer runs on one instance across the cluster, and moves when it leaves", async () => {
    const runs: string[] = [];
    const svc = (tag: string) =>
      defineService({
        name: "billing",
        timers: { invoice: { every: 30, singleton: true, handler: () => void runs.push(tag) } },
      });
    const cluster = createTestCluster();
    const a = cluster.node("node-a");
    a.createService(svc("a"));
    const b = cluster.node("node-b");
    b.createService(svc("b"));
    try {
      await cluster.start();
      await until(() => b.registry.remote.nodes.get("node-a")?.info.services.length === 1);
      await until(() => a.registry.remote.nodes.get("node-b")?.info.services.length === 1);
      runs.length = 0;
      await until(() => runs.length >= 5);
      expect(new Set(runs)).toEqual(new Set(["a"])); // node-a sorts first
      await a.stop();
      runs.length = 0;
      await until(() => runs.length >= 3);
      expect(new Set(runs)).toEqual(new Set(["b"]));
    } finally {
      await cluster.stop();
    }
  });
});
