import { defineService, RequestTimeoutError, ServiceBroker } from "flotilla";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { requireServer, SHARED, until } from "../harness/index.js";

// Broker-balanced mode on RabbitMQ: requests go to the service's durable queue, where they wait
// for an instance until their deadline.
const url = SHARED.rabbitmq.url;
beforeAll(() => requireServer("rabbitmq"));
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

/**
 * A service whose durable queue exists (a first instance declared it, then went away) with no
 * instance up, a started client, and a way to start an instance again. `runs` lists the jobs run.
 */
async function withoutInstance(tag: string) {
  const namespace = `bal-${process.pid}-${Date.now()}-${tag}`;
  const runs: string[] = [];
  const first = node(namespace, "first");
  first.createService(worker(runs));
  await first.start();
  await first.stop();
  const client = node(namespace, "client");
  await client.start();
  const startInstance = async () => {
    const second = node(namespace, "second");
    second.createService(worker(runs));
    await second.start();
  };
  return { runs, client, startInstance };
}

describe("broker-balanced mode on RabbitMQ", () => {
  it("a request sent while no instance is up waits in the queue and is served when one starts", async () => {
    const { runs, client, startInstance } = await withoutInstance("late");
    const answer = client.call("jobs.run", { job: "late-start" }, { timeout: 10_000 });
    await startInstance();
    await expect(answer).resolves.toBe("done");
    expect(runs).toEqual(["late-start"]);
  });

  it("a queued request whose deadline passes fails with REQUEST_TIMEOUT and is never executed", async () => {
    const { runs, client, startInstance } = await withoutInstance("expired");
    await expect(
      client.call("jobs.run", { job: "expired" }, { timeout: 300 }),
    ).rejects.toBeInstanceOf(RequestTimeoutError);
    await startInstance();
    // A fresh request goes through, and the expired one was dropped, not run.
    await client.call("jobs.run", { job: "fresh" }, { timeout: 10_000 });
    await until(() => runs.includes("fresh"));
    expect(runs).toEqual(["fresh"]);
  });
});
