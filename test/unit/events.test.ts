import { type Context, defineService } from "flotilla";
import { waitForEvent } from "flotilla/testing";
import { describe, expect, it } from "vitest";
import { startBroker, testBroker } from "../helpers.js";

function listener(name: string, log: string[], event = "user.created", group?: string) {
  return defineService({
    name,
    events: {
      [event]: {
        group,
        handler: (ctx: Context) => void log.push(`${name}:${String(ctx.params.id)}`),
      },
    },
  });
}

describe("events", () => {
  it("emit reaches one handler per group; broadcast reaches every handler", async () => {
    const log: string[] = [];
    const broker = testBroker();
    broker.createService(listener("mail", log));
    broker.createService(listener("audit", log));
    broker.createService(listener("audit2", log, "user.created", "audit"));
    await broker.start();

    const all = Promise.all([
      waitForEvent(broker, "user.created"),
      waitForEvent(broker, "user.created"),
    ]);
    await broker.emit("user.created", { id: 1 });
    await all;
    expect(log).toHaveLength(2);
    expect(log).toContain("mail:1");
    expect(log.filter((l) => l.startsWith("audit")).length).toBe(1);

    log.length = 0;
    const three = waitAll(broker, "user.created", 3);
    await broker.broadcast("user.created", { id: 2 });
    await three;
    expect(log.sort()).toEqual(["audit2:2", "audit:2", "mail:2"]);
  });

  it("balances an emitted event across the members of one group", async () => {
    const log: string[] = [];
    const broker = await startBroker([
      listener("w1", log, "job.ready", "workers"),
      listener("w2", log, "job.ready", "workers"),
    ]);
    for (let id = 0; id < 4; id++) {
      const done = waitForEvent(broker, "job.ready");
      await broker.emit("job.ready", { id });
      await done;
    }
    expect(log.filter((l) => l.startsWith("w1")).length).toBe(2);
    expect(log.filter((l) => l.startsWith("w2")).length).toBe(2);
  });

  it("delivers only to the groups asked for", async () => {
    const log: string[] = [];
    const broker = await startBroker([listener("mail", log), listener("audit", log)]);
    const done = waitForEvent(broker, "user.created");
    await broker.emit("user.created", { id: 3 }, { groups: ["audit"] });
    expect((await done).service).toBe("audit");
    expect(log).toEqual(["audit:3"]);
  });

  it("matches wildcard subscriptions", async () => {
    const log: string[] = [];
    const broker = await startBroker([
      listener("one", log, "user.*"),
      listener("deep", log, "user.**"),
    ]);
    const both = waitAll(broker, "user.**", 2);
    await broker.emit("user.created", { id: 4 });
    await both;
    const deep = waitForEvent(broker, "user.profile.updated");
    await broker.emit("user.profile.updated", { id: 5 });
    await deep;
    expect(log.sort()).toEqual(["deep:4", "deep:5", "one:4"]);
  });

  it("a failing handler never reaches the emitter and others still run", async () => {
    const broker = await startBroker([
      defineService({
        name: "flaky",
        events: {
          "x.happened": {
            handler() {
              throw new Error("handler bug");
            },
          },
        },
      }),
      defineService({ name: "steady", events: { "x.happened": { handler: () => "ok" } } }),
    ]);
    const failed = waitForEvent(broker, "x.happened", (_p, ctx) => ctx.service?.name === "flaky");
    const ok = waitForEvent(broker, "x.happened", (_p, ctx) => ctx.service?.name === "steady");
    await expect(broker.emit("x.happened", {})).resolves.toBeUndefined();
    expect(((await failed).error as Error).message).toBe("handler bug");
    expect((await ok).error).toBeUndefined();
  });

  it("ctx.emit carries meta and the requestID to the handler", async () => {
    const broker = await startBroker([
      defineService({
        name: "orders",
        actions: { place: { handler: (ctx) => ctx.emit("orders.placed", { id: 9 }) } },
      }),
      defineService({ name: "mail", events: { "orders.placed": { handler: () => {} } } }),
    ]);
    const handled = waitForEvent(broker, "orders.placed");
    await broker.call("orders.place", {}, { meta: { tenant: "t1" }, requestID: "r-9" });
    const { ctx } = await handled;
    expect(ctx.meta).toEqual({ tenant: "t1" });
    expect(ctx.requestID).toBe("r-9");
    expect(ctx.level).toBe(2);
  });
});

function waitAll(
  broker: Parameters<typeof waitForEvent>[0],
  event: string,
  count: number,
): Promise<void> {
  let seen = 0;
  return waitForEvent(broker, event, () => ++seen === count).then(() => undefined);
}
