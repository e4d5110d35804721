import { afterEach, describe, expect, it } from "vitest";
import { defineService, ServiceBroker } from "../../src/index.js";

// The broker side of watch mode: one service is swapped at runtime while the node keeps running.
let brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.map((b) => b.stop()));
  brokers = [];
});

const slow = (answer: string, log: string[]) =>
  defineService({
    name: "slow",
    actions: {
      work: {
        async handler() {
          await new Promise((resolve) => setTimeout(resolve, 600));
          log.push(`answered ${answer}`);
          return answer;
        },
      },
    },
    stopped: () => void log.push(`stopped ${answer}`),
    started: () => void log.push(`started ${answer}`),
  });

async function node(namespace: string, nodeID: string): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    nodeID,
    namespace,
    transporter: "memory://",
    logger: false,
    replaceable: true,
  });
  brokers.push(broker);
  return broker;
}

describe("broker.replaceService and destroyService", () => {
  it("lets the old version's calls in flight finish before the new version starts", async () => {
    const ns = `replace-${Math.random().toString(36).slice(2)}`;
    const log: string[] = [];
    const host = await node(ns, "host");
    host.createService(slow("v1", log));
    await host.start();
    const caller = await node(ns, "caller");
    await caller.start();
    await caller.waitForServices("slow");
    const inFlight = caller.call("slow.work", {});
    // Let the request reach the host before the swap starts.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const swapped = host.replaceService(slow("v2", log));
    expect(await inFlight).toBe("v1");
    await swapped;
    // Drained: the old version answered its call before it was stopped.
    expect(log).toEqual(["started v1", "answered v1", "stopped v1", "started v2"]);
    await caller.waitForServices("slow");
    expect(await caller.call("slow.work", {})).toBe("v2");
    expect(host.state).toBe("started");
  });

  it("keeps the old version when the new definition is malformed", async () => {
    const log: string[] = [];
    const host = await node(`bad-${Math.random()}`, "host");
    host.createService(slow("v1", log));
    await host.start();
    const bad = { name: "slow", actions: { work: {} } } as unknown as Parameters<
      ServiceBroker["replaceService"]
    >[0];
    await expect(host.replaceService(bad)).rejects.toMatchObject({ code: "INVALID_SERVICE" });
    expect(await host.call("slow.work", {})).toBe("v1");
    expect(log).toEqual(["started v1", "answered v1"]);
  });

  it("destroys one service and leaves the others serving", async () => {
    const host = await node(`destroy-${Math.random()}`, "host");
    host.createService(slow("v1", []));
    host.createService(
      defineService({ name: "other", actions: { ping: { handler: () => "pong" } } }),
    );
    await host.start();
    expect(await host.destroyService("slow")).toBe(true);
    expect(await host.destroyService("slow")).toBe(false);
    await expect(host.call("slow.work", {})).rejects.toMatchObject({ code: "SERVICE_NOT_FOUND" });
    expect(await host.call("other.ping", {})).toBe("pong");
    expect(host.health().services).toEqual({ other: "started" });
  });

  it("refuses on a broker not made replaceable (which does not count handlers)", async () => {
    const broker = new ServiceBroker({ logger: false });
    brokers.push(broker);
    broker.createService(slow("v1", []));
    await broker.start();
    await expect(broker.destroyService("slow")).rejects.toMatchObject({ code: "NOT_REPLACEABLE" });
    await expect(broker.replaceService(slow("v2", []))).rejects.toMatchObject({
      code: "NOT_REPLACEABLE",
    });
  });
});
