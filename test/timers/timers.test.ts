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
  });

  it("reads names, L, a seconds field and a time zone", () => {
    const utc = (iso: string) => Date.parse(`${iso}Z`);
    const from = utc("2026-11-27T10:07:00"); // a Friday
    expect(parseCron("0 9 * * MON-FRI", "UTC").next(from)).toBe(utc("2026-11-30T09:00:00"));
    expect(parseCron("0 0 1 JAN *", "UTC").next(from)).toBe(utc("2027-01-01T00:00:00"));
    expect(parseCron("0 0 L * *", "UTC").next(from)).toBe(utc("2026-11-30T00:00:00"));
    expect(parseCron("0 0 L FEB *", "UTC").next(from)).toBe(utc("2027-02-28T00:00:00"));
    expect(parseCron("*/15 * * * * *", "UTC").next(from)).toBe(utc("2026-11-27T10:07:15"));
    // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
    expect(parseCron("0 9 * * *", "Europe/Berlin").next(from)).toBe(utc("2026-11-28T08:00:00"));
    expect(parseCron("0 9 * * *", "Europe/Berlin").next(utc("2026-07-01T00:00:00"))).toBe(
      utc("2026-07-01T07:00:00"),
    );
  });

  it("follows croner on daylight-saving days: a run in the gap moves to 03:00, none is doubled", () => {
    const utc = (iso: string) => Date.parse(`${iso}Z`);
    const nightly = parseCron("30 2 * * *", "Europe/Berlin");
    // 2026-03-29: Berlin skips 02:00-03:00 (CET → CEST); the 02:30 run is at 03:00 CEST.
    expect(nightly.next(utc("2026-03-28T12:00:00"))).toBe(utc("2026-03-29T01:00:00"));
    expect(nightly.next(utc("2026-03-29T01:00:00"))).toBe(utc("2026-03-30T00:30:00"));
    // 2026-10-25: 02:00-03:00 happens twice (CEST, then CET); the 02:30 run is once, the first.
    expect(nightly.next(utc("2026-10-24T12:00:00"))).toBe(utc("2026-10-25T00:30:00"));
    expect(nightly.next(utc("2026-10-25T00:30:00"))).toBe(utc("2026-10-26T01:30:00"));
    // An interval schedule skips the times that do not exist.
    const halfHourly = parseCron("*/30 * * * *", "Europe/Berlin");
    expect(halfHourly.next(utc("2026-03-29T00:30:00"))).toBe(utc("2026-03-29T01:00:00"));
  });

  it("refuses bad expressions, time zones and schedules that never fire", () => {
    expect(() => parseCron("61 * * * *")).toThrow(/Invalid value for minute/);
    expect(() => parseCron("* * *")).toThrow(/five, six, or seven/);
    expect(() => parseCron("* * *")).toThrow(ServiceSchemaError);
    expect(() => parseCron("0 0 30 2 *")).toThrow(/never fires/);
    expect(() => parseCron("* * * * *", "Mars/Olympus")).toThrow(/not a time zone/);
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
    expect(() => broker.createService(bad as never)).toThrow(/five, six, or seven/);
    const zone = {
      name: "d",
      timers: { t: { cron: "0 * * * *", timezone: "Nowhere", handler() {} } },
    };
    expect(() => broker.createService(zone)).toThrow(/not a time zone/);
    const zoneEvery = { name: "e", timers: { t: { every: "1s", timezone: "UTC", handler() {} } } };
    expect(() => broker.createService(zoneEvery)).toThrow(/'timezone' applies to 'cron' only/);
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

describe("long and calendar schedules, on a fake clock", () => {
  const DAY = 86_400_000;

  /** Starts a service with one timer; `runs` collects the (fake) times it ran at. */
  async function timerAt(timer: { every?: string; cron?: string; timezone?: string }) {
    const runs: string[] = [];
    const broker = await startBroker(
      defineService({
        name: "calendar",
        timers: { job: { ...timer, handler: () => void runs.push(new Date().toISOString()) } },
      }),
    );
    return { runs, broker };
  }

  it("a yearly cron runs once a year, not at once (no setTimeout overflow)", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-02-01T00:00:00Z"));
    const { runs, broker } = await timerAt({ cron: "@yearly", timezone: "UTC" });
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(400 * DAY);
    expect(runs).toEqual(["2027-01-01T00:00:00.000Z"]);
    await vi.advanceTimersByTimeAsync(366 * DAY);
    expect(runs).toEqual(["2027-01-01T00:00:00.000Z", "2028-01-01T00:00:00.000Z"]);
    await broker.stop();
  });

  it("a 30-day every runs every 30 days", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
    const { runs, broker } = await timerAt({ every: "30d" });
    await vi.advanceTimersByTimeAsync(29 * DAY);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(61 * DAY);
    expect(runs).toEqual([
      "2026-01-31T00:00:00.000Z",
      "2026-03-02T00:00:00.000Z",
      "2026-04-01T00:00:00.000Z",
    ]);
    await broker.stop();
    await vi.advanceTimersByTimeAsync(60 * DAY);
    expect(runs).toHaveLength(3);
  });

  it.each([
    {
      day: "spring forward (02:00-03:00 does not exist)",
      from: "2026-03-28T12:00:00Z",
      runs: [
        "2026-03-29T01:00:00.000Z", // 03:00 CEST, the first time after the gap
        "2026-03-30T00:30:00.000Z", // 02:30 CEST
        "2026-03-31T00:30:00.000Z",
      ],
    },
    {
      day: "fall back (02:00-03:00 happens twice)",
      from: "2026-10-24T12:00:00Z",
      runs: [
        "2026-10-25T00:30:00.000Z", // 02:30 CEST, and not again at 02:30 CET
        "2026-10-26T01:30:00.000Z", // 02:30 CET
        "2026-10-27T01:30:00.000Z",
      ],
    },
  ])("a nightly 02:30 Europe/Berlin cron runs once on the $day day", async (day) => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(day.from));
    const { runs, broker } = await timerAt({ cron: "30 2 * * *", timezone: "Europe/Berlin" });
    await vi.advanceTimersByTimeAsync(3 * DAY);
    expect(runs).toEqual(day.runs);
    await broker.stop();
  });
});
