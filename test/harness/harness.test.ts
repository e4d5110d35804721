import { afterAll, describe, expect, it, vi } from "vitest";
import { PrivateServer, reachable, until } from "./index.js";

describe("until", () => {
  it("resolves to the first truthy value", async () => {
    let n = 0;
    await expect(until(() => ++n >= 3 && n)).resolves.toBe(3);
  });

  it("fails naming what it waited for and the last value seen", async () => {
    const seen = { depth: 7 };
    await expect(until(() => seen.depth === 0 && seen, { timeout: 30 })).rejects.toThrow(
      /timed out after 30 ms waiting for \(\) => seen\.depth === 0 && seen \(last value: false\)/,
    );
    await expect(until(async () => 0, { timeout: 30, message: "the queue" })).rejects.toThrow(
      "waiting for the queue (last value: 0)",
    );
  });

  it("waits in real time while the clock is fake", async () => {
    vi.useFakeTimers();
    try {
      let n = 0;
      await expect(until(() => ++n >= 3)).resolves.toBe(true);
      await expect(until(() => false, { timeout: 30 })).rejects.toThrow("timed out after 30 ms");
    } finally {
      vi.useRealTimers();
    }
  });

  it("ends at once when the predicate throws", async () => {
    await expect(
      until(
        () => {
          throw new Error("gone");
        },
        { timeout: 60_000 },
      ),
    ).rejects.toThrow("gone");
  });
});

describe("PrivateServer", () => {
  afterAll(() => PrivateServer.stopAll());

  it.each(["nats", "redis"] as const)(
    "%s: starts, is killed, and comes back on its port",
    async (kind) => {
      const server = await PrivateServer.start(kind);
      expect(await reachable(server.port)).toBe(true);
      expect(server.url).toBe(`${kind}://127.0.0.1:${server.port}`);
      await server.kill();
      expect(await reachable(server.port)).toBe(false);
      await server.restart();
      expect(await reachable(server.port)).toBe(true);
      await server.cleanup();
      expect(server.running).toBe(false);
    },
  );
});
