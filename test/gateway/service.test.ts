import { createTestBroker } from "flotilla/testing";
import { Agent, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { gatewayOf, gatewayService, startGateway } from "../../src/gateway/index.js";
import { users } from "./fixtures.js";

const brokers: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

describe("gateway on a real socket", () => {
  it("runs as a service: listens when the broker starts, closes when it stops", async () => {
    const broker = createTestBroker();
    brokers.push(broker);
    broker.createService(users);
    broker.createService(gatewayService({ port: 0, prefix: "/api" }));
    await broker.start();
    const gateway = gatewayOf(broker);
    expect(gateway?.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const address = gateway!.address!;

    const res = await request(`${address}/api/users/5`, { headers: { "x-request-id": "sock-1" } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-request-id"]).toBe("sock-1");
    expect(await res.body.json()).toEqual({ id: 5, name: "Ada" });

    const invalid = await request(`${address}/api/users/0`);
    expect(invalid.statusCode).toBe(422);
    expect(invalid.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(((await invalid.body.json()) as { errors: unknown[] }).errors).toHaveLength(1);

    await broker.stop();
    expect(gatewayOf(broker)).toBeUndefined();
    // A fresh connection: the pooled one was closed by the server on its way down.
    const fresh = new Agent();
    await expect(request(`${address}/api/users/5`, { dispatcher: fresh })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    await fresh.close();
  });

  it("startGateway fails cleanly when the port is taken", async () => {
    const broker = createTestBroker();
    brokers.push(broker);
    await broker.start();
    const first = await startGateway(broker, { port: 0 });
    const port = Number(new URL(first.address!).port);
    await expect(startGateway(broker, { port })).rejects.toThrow(/EADDRINUSE/);
    await first.close();
  });
});
