import { defineService, HOOK_NAMES, type Middleware, UnknownHookError } from "flotilla";
import { waitForEvent } from "flotilla/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { testBroker } from "../helpers.js";

const echo = defineService({
  name: "echo",
  actions: {
    say: { params: z.object({ text: z.string() }), handler: (ctx) => ctx.params.text },
    relay: { handler: (ctx) => ctx.call("echo.say", { text: "relayed" }) },
  },
  events: { "echo.heard": { handler: () => {} } },
});

describe("middleware", () => {
  it("rejects an unknown hook name at registration, naming it and the known ones", () => {
    const typo = { name: "typo", localActions: () => undefined } as unknown as Middleware;
    expect(() => testBroker({ middlewares: [typo] })).toThrow(UnknownHookError);
    expect(() => testBroker().use(typo)).toThrow(/unknown hook 'localActions'.*localAction/);
    expect(HOOK_NAMES).toContain("localAction");
  });

  it("wraps local actions, later middlewares outside earlier ones, after validation", async () => {
    const trail: string[] = [];
    const tag = (name: string): Middleware => ({
      name,
      localAction: (next, action) => async (ctx) => {
        trail.push(`${name}>${action.name}:${JSON.stringify(ctx.params)}`);
        const result = await next(ctx);
        trail.push(`${name}<`);
        return result;
      },
    });
    const broker = testBroker({ middlewares: [tag("a")] });
    broker.use(tag("b"));
    broker.createService(echo);
    await broker.start();
    await expect(broker.call("echo.say", { text: "hi" })).resolves.toBe("hi");
    expect(trail).toEqual(['b>echo.say:{"text":"hi"}', 'a>echo.say:{"text":"hi"}', "a<", "b<"]);
    // A middleware added after services exist wraps them too.
    trail.length = 0;
    broker.use(tag("c"));
    await broker.call("echo.say", { text: "x" });
    expect(trail[0]).toMatch(/^c>/);
  });

  it("call hooks see broker.call and ctx.call, and can change the result", async () => {
    const seen: string[] = [];
    const broker = testBroker({
      middlewares: [
        {
          name: "upper",
          call: (next) => async (name, params, opts) => {
            seen.push(`${name}@${opts?.parentCtx ? "ctx" : "broker"}`);
            const out = await next(name, params, opts);
            return typeof out === "string" ? out.toUpperCase() : out;
          },
        },
      ],
    });
    broker.createService(echo);
    await broker.start();
    await expect(broker.call("echo.relay")).resolves.toBe("RELAYED");
    expect(seen).toEqual(["echo.relay@broker", "echo.say@ctx"]);
  });

  it("emit and localEvent hooks wrap event delivery", async () => {
    const seen: string[] = [];
    const broker = testBroker({
      middlewares: [
        {
          emit: (next) => (event, payload, opts) => {
            seen.push(`emit ${event}`);
            return next(event, payload, opts);
          },
          localEvent: (next, listener) => (ctx) => {
            seen.push(`deliver ${listener.event} to ${listener.service.name}`);
            return next(ctx);
          },
        },
      ],
    });
    broker.createService(echo);
    await broker.start();
    const heard = waitForEvent(broker, "echo.heard");
    await broker.emit("echo.heard", {});
    await heard;
    expect(seen).toEqual(["emit echo.heard", "deliver echo.heard to echo"]);
  });

  it("runs lifecycle hooks in order, stop hooks in reverse", async () => {
    const seen: string[] = [];
    const life = (name: string): Middleware => ({
      name,
      created: () => void seen.push(`${name} created`),
      starting: () => void seen.push(`${name} starting`),
      started: () => void seen.push(`${name} started`),
      stopping: () => void seen.push(`${name} stopping`),
      stopped: () => void seen.push(`${name} stopped`),
    });
    const broker = testBroker();
    broker.use(life("a")).use(life("b"));
    await broker.start();
    await broker.stop();
    expect(seen).toEqual([
      "a created",
      "b created",
      "a starting",
      "b starting",
      "a started",
      "b started",
      "b stopping",
      "a stopping",
      "b stopped",
      "a stopped",
    ]);
  });
});
