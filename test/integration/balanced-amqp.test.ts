import { defineService, RequestTimeoutError, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../conformance/suite.js";

// Broker-balanced mode on RabbitMQ: requests go to the service's durable queue, where they wait
// for an instance until their deadline.
const url = "amqp://guest:guest@127.0.0.1:5672";
const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
});

let seq = 0;
function node(namespace: string, tag: string): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID: `${tag}-${++seq}`,
    namespace,
    logger: false,
    transporter: url,
    balancing: "broker",
    heartbeatInterval: 100,
    heartbeatTimeout: 1_000,
  });
  live.push(broker);
  return broker;
}

function worker(runs: string[]) {
  return defineService({
    name: "jobs",
    actions: {
      run: {
        handler(ctx) {
          runs.push(String(ctx.params.job));
          return "done";
        },
      },
    },
  });
}

describe("broker-balanced mode on RabbitMQ", () => {
  it("a request sent while no instance is up waits in the queue and is served when one starts", async () => {
    const namespace = `bal-${process.pid}-${Date.now()}`;
    const runs: string[] = [];
    // A first instance declares the service's durable queue, then goes away.
    const first = node(namespace, "first");
    first.createService(worker(runs));
    await first.start();
    await first.stop();

    const client = node(namespace, "client");
    await client.start();
    const answer = client.call("jobs.run", { job: "late-start" }, { timeout: 10_000 });
    const second = node(namespace, "second");
    second.createService(worker(runs));
    await second.start();
    await expect(answer).resolves.toBe("done");
    expect(runs).toEqual(["late-start"]);
  });

  it("a queued request whose deadline passes fails with REQUEST_TIMEOUT and is never executed", async () => {
    const namespace = `bal-${process.pid}-${Date.now()}-t`;
    const runs: string[] = [];
    const first = node(namespace, "first");
    first.createService(worker(runs));
    await first.start();
    await first.stop();

    const client = node(namespace, "client");
    await client.start();
    await expect(
      client.call("jobs.run", { job: "expired" }, { timeout: 300 }),
    ).rejects.toBeInstanceOf(RequestTimeoutError);
    const second = node(namespace, "second");
    second.createService(worker(runs));
    await second.start();
    // A fresh request goes through, and the expired one was dropped, not run.
    await client.call("jobs.run", { job: "fresh" }, { timeout: 10_000 });
    await until(() => runs.includes("fresh"));
    expect(runs).toEqual(["fresh"]);
  });
});
