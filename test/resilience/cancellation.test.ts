import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Context,
  createHttpClient,
  defineService,
  FlotillaError,
  type ServiceBroker,
} from "flotilla";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createGateway } from "../../src/gateway/index.js";
import { deferred, startBroker } from "../helpers.js";

// ctx.signal: a handler learns that its work is no longer wanted — the deadline passed, the
// caller cancelled (an aborted `signal` option, a gateway client that disconnected) or the
// caller's node left — and stops what it waits on (an outside HTTP call here).

/** An HTTP server that never answers, and tells when a client gives up on a request. */
async function slowServer(): Promise<{
  url: string;
  closed: Promise<void>;
  arrived: Promise<void>;
}> {
  const arrived = deferred();
  const closed = deferred();
  const server: Server = createServer((req: IncomingMessage) => {
    arrived.resolve();
    req.socket.once("close", () => closed.resolve());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, closed: closed.promise, arrived: arrived.promise };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A service whose `wait` action waits on `outside` with ctx.signal, reporting how it ended. */
function waiter(outside: () => string, ended: (reason: unknown) => void) {
  return defineService({
    name: "waiter",
    actions: {
      wait: {
        handler: async (ctx: Context) => {
          const http = createHttpClient({ retries: 0, timeout: 60_000 });
          try {
            return await http.get(outside(), { signal: ctx.signal });
          } catch (err) {
            ended(ctx.signal.aborted ? ctx.signal.reason : err);
            throw err;
          }
        },
      },
      idle: {
        handler: async (ctx: Context) => {
          started.resolve();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          ended(ctx.signal.reason);
          return "stopped";
        },
      },
    },
  });
}
let started = deferred();
afterEach(() => {
  started = deferred();
});

const code = (err: unknown) => (err instanceof FlotillaError ? err.code : String(err));

/** Starts a node on `bus` running the waiter; `ended` resolves with why its handler stopped. */
async function leaf(bus: string, nodeID = "server"): Promise<{ ended: Promise<unknown> }> {
  const ended = deferred<unknown>();
  await startBroker(
    waiter(() => "", ended.resolve),
    { nodeID, transporter: bus },
  );
  return { ended: ended.promise };
}

/**
 * Calls `action` from `caller` with a signal, aborts it once the waiter's handler runs, and
 * returns the call (rejected by then or soon).
 */
async function abortMidway(
  caller: ServiceBroker,
  action: string,
): Promise<{ call: Promise<unknown> }> {
  const controller = new AbortController();
  const call = caller.call(action, {}, { signal: controller.signal, timeout: 30_000 });
  call.catch(() => {});
  await started.promise;
  controller.abort(new Error("user pressed stop"));
  return { call };
}

describe("ctx.signal", () => {
  it("stops a handler waiting on a slow outside call when its caller times out (remote, tcp://)", async () => {
    const slow = await slowServer();
    const ended = deferred<unknown>();
    const ns = `cancel-${randomUUID().slice(0, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), "flotilla-cancel-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const transporter = `tcp://?dir=${encodeURIComponent(dir)}`;
    await startBroker(
      waiter(() => slow.url, ended.resolve),
      {
        nodeID: "server",
        namespace: ns,
        transporter,
      },
    );
    const client = await startBroker([], { nodeID: "client", namespace: ns, transporter });
    await client.waitForServices(["waiter"], 10_000);
    const call = client.call("waiter.wait", {}, { timeout: 300 });
    await expect(call).rejects.toMatchObject({ code: "REQUEST_TIMEOUT" });
    // The outside server sees the connection closed, and the handler ended with the timeout.
    await slow.closed;
    expect(code(await ended.promise)).toBe("REQUEST_TIMEOUT");
  });

  it("aborts at the deadline of a local call", async () => {
    const ended = deferred<unknown>();
    const broker = await startBroker(waiter(() => "", ended.resolve));
    const call = broker.call("waiter.idle", {}, { timeout: 100 });
    // The handler ends on its own when the signal aborts, with the timeout as the reason.
    await expect(call).resolves.toBe("stopped");
    expect(code(await ended.promise)).toBe("REQUEST_TIMEOUT");
  });

  it("is not aborted for a call that ends in time, and is for one still running", async () => {
    const running = deferred<AbortSignal>();
    const broker = await startBroker(
      defineService({
        name: "quick",
        actions: {
          go: { handler: (ctx: Context) => ctx.signal },
          hold: {
            handler: (ctx: Context) => {
              running.resolve(ctx.signal);
              return new Promise(() => {});
            },
          },
        },
      }),
    );
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      const done = (await broker.call("quick.go", {}, { timeout: 50 })) as AbortSignal;
      broker.call("quick.hold", {}, { timeout: 50 }).catch(() => {});
      const held = await running.promise;
      vi.advanceTimersByTime(100);
      // The first handler's timer was cleared when it ended; the second is past its deadline.
      expect(done.aborted).toBe(false);
      expect(held.aborted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("follows the caller's signal option: the call rejects at once, the remote handler stops", async () => {
    const bus = `memory://cancel-${randomUUID().slice(0, 8)}`;
    const { ended } = await leaf(bus);
    const client = await startBroker([], { nodeID: "client", transporter: bus });
    await client.waitForServices(["waiter"], 5_000);
    const { call } = await abortMidway(client, "waiter.idle");
    await expect(call).rejects.toMatchObject({
      code: "CALL_ABORTED",
    });
    const reason = await ended;
    expect(code(reason)).toBe("CALL_ABORTED");
    expect((reason as Error).message).toContain("the caller cancelled it");
  });

  it("refuses a call whose signal already aborted, without running it", async () => {
    let ran = false;
    const broker = await startBroker(
      defineService({ name: "never", actions: { run: { handler: () => (ran = true) } } }),
    );
    const call = broker.call("never.run", {}, { signal: AbortSignal.abort() });
    await expect(call).rejects.toMatchObject({ code: "CALL_ABORTED" });
    expect(ran).toBe(false);
  });

  it("aborts the handlers working for a caller whose node left", async () => {
    const ended = deferred<unknown>();
    const bus = `memory://cancel-${randomUUID().slice(0, 8)}`;
    await startBroker(
      waiter(() => "", ended.resolve),
      { nodeID: "server", transporter: bus },
    );
    const client = await startBroker([], { nodeID: "client", transporter: bus });
    await client.waitForServices(["waiter"], 5_000);
    const call = client.call("waiter.idle", {}, { timeout: 30_000 });
    call.catch(() => {});
    await started.promise;
    await client.stop();
    const reason = await ended.promise;
    expect(code(reason)).toBe("CALL_ABORTED");
    expect((reason as Error).message).toContain("'client' left");
  });

  it("carries on down the chain: a nested remote call is cancelled with its parent", async () => {
    const bus = `memory://cancel-${randomUUID().slice(0, 8)}`;
    const { ended } = await leaf(bus, "leaf");
    await startBroker(
      defineService({
        name: "middle",
        actions: { relay: { handler: (ctx: Context) => ctx.call("waiter.idle", {}) } },
      }),
      { nodeID: "middle", transporter: bus },
    );
    const client = await startBroker([], { nodeID: "client", transporter: bus });
    await client.waitForServices(["middle", "waiter"], 5_000);
    await abortMidway(client, "middle.relay");
    // client -> middle (CANCEL) -> middle's ctx.signal aborts -> its call to the leaf is cancelled.
    expect(code(await ended)).toBe("CALL_ABORTED");
  });

  it("reaches a remote call made by a local nested call of a cancelled call", async () => {
    const bus = `memory://cancel-${randomUUID().slice(0, 8)}`;
    const { ended } = await leaf(bus, "leaf");
    const edge = await startBroker(
      defineService({
        name: "outer",
        actions: {
          // outer.top -> outer.inner (same node, never reads its signal) -> waiter.idle (remote)
          top: { handler: (ctx: Context) => ctx.call("outer.inner", {}) },
          inner: { handler: (ctx: Context) => ctx.call("waiter.idle", {}) },
        },
      }),
      { nodeID: "edge", transporter: bus },
    );
    await edge.waitForServices(["waiter"], 5_000);
    await abortMidway(edge, "outer.top");
    expect(code(await ended)).toBe("CALL_ABORTED");
  });

  it("aborts when the gateway's HTTP client disconnects", async () => {
    const ended = deferred<unknown>();
    const bus = `memory://cancel-${randomUUID().slice(0, 8)}`;
    await startBroker(
      defineService({
        name: "slow",
        actions: {
          hang: {
            rest: "GET /hang",
            visibility: "published",
            handler: async (ctx: Context) => {
              started.resolve();
              await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
              ended.resolve(ctx.signal.reason);
              return "late";
            },
          },
        },
      }),
      { nodeID: "server", transporter: bus },
    );
    const edge = await startBroker([], { nodeID: "edge", transporter: bus });
    await edge.waitForServices(["slow"], 5_000);
    const gateway = await createGateway(edge, { port: 0, host: "127.0.0.1" });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen();
    const controller = new AbortController();
    const request = fetch(`${url}/hang`, { signal: controller.signal });
    request.catch(() => {});
    await started.promise;
    controller.abort();
    expect(code(await ended.promise)).toBe("CALL_ABORTED");
  });
});
