import { defineService, ValidationError, WaitTimeoutError } from "flotilla";
import { mockAction, replaceService, waitForEvent } from "flotilla/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

const users = defineService({
  name: "users",
  actions: {
    get: {
      params: z.object({ id: z.number() }),
      handler: (ctx) => ({ id: ctx.params.id, name: "Real" }),
    },
  },
  events: { "user.ping": { handler: () => "real" } },
});
const orders = defineService({
  name: "orders",
  actions: {
    create: {
      params: z.object({ userId: z.number() }),
      async handler(ctx) {
        const user = await ctx.call<{ name: string }>("users.get", { id: ctx.params.userId });
        return `order for ${user.name}`;
      },
    },
  },
});

describe("test kit", () => {
  it("mockAction replaces an action for one test, records calls, keeps validation, restores", async () => {
    const broker = await startBroker([users, orders]);
    const mock = mockAction(broker, "users.get", { id: 1, name: "Stub" });
    await expect(broker.call("orders.create", { userId: 1 })).resolves.toBe("order for Stub");
    expect(mock.calls.map((c) => c.params)).toEqual([{ id: 1 }]);
    expect(mock.calls[0]?.caller).toBe("orders");
    await expect(broker.call("users.get", { id: "x" })).rejects.toBeInstanceOf(ValidationError);
    mock.restore();
    await expect(broker.call("orders.create", { userId: 1 })).resolves.toBe("order for Real");
  });

  it("replaceService swaps a whole service (actions and events) and puts it back", async () => {
    const broker = await startBroker([users, orders]);
    const restore = replaceService(
      broker,
      defineService({
        name: "users",
        actions: { get: { handler: () => ({ name: "Fake" }) } },
        events: { "user.ping": { handler: () => "fake" } },
      }),
    );
    await expect(broker.call("orders.create", { userId: 2 })).resolves.toBe("order for Fake");
    restore();
    await expect(broker.call("orders.create", { userId: 2 })).resolves.toBe("order for Real");
  });

  it("waitForEvent filters by predicate and times out with WaitTimeoutError", async () => {
    const broker = await startBroker(users);
    const second = waitForEvent<{ n: number }>(broker, "user.ping", (p) => p.n === 2);
    await broker.emit("user.ping", { n: 1 });
    await broker.emit("user.ping", { n: 2 });
    expect((await second).params).toEqual({ n: 2 });
    await expect(
      waitForEvent(broker, "never.happens", undefined, { timeout: 10 }),
    ).rejects.toBeInstanceOf(WaitTimeoutError);
  });
});
