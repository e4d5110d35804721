import { type BrokerOptions, defineService } from "flotilla";
import { crashNode } from "flotilla/testing";
import { expect, vi } from "vitest";
import { until } from "../../harness/index.js";
import { type NodeMaker, settled } from "./kit.js";
import type { DurableTarget } from "./suite.js";

type Test = (name: string, fn: () => Promise<void>, timeout?: number) => void;

/** The fault scenarios of the durable suite: a consumer killed, a retry across a crash, a restart. */
export function faultScenarios(
  target: DurableTarget,
  test: Test,
  node: NodeMaker,
  namespace: (tag: string) => string,
): void {
  test("a message held by a consumer killed with SIGKILL goes to another member", async () => {
    const ns = namespace("kill");
    if (target.kill === undefined) throw new Error(`${target.name} has no kill harness`);
    const victim = await target.kill(ns);
    const emitter = node(ns);
    await emitter.start();
    await emitter.emit("job.run", { job: 1 }, { durable: true });
    const messageID = await victim.busy;
    // Another member joins while the victim holds the message unacknowledged.
    const handled: { id: string | undefined; attempt: number | undefined }[] = [];
    const survivor = node(ns, [
      defineService({
        name: "worker",
        events: {
          "job.run": {
            durable: true,
            handler: (ctx) => void handled.push({ id: ctx.messageID, attempt: ctx.attempt }),
          },
        },
      }),
    ]);
    await survivor.start();
    expect(handled).toEqual([]);
    const killedAt = Date.now();
    await victim.kill();
    await until(() => handled.length === 1, { timeout: 15_000, message: "the redelivery" });
    console.info(`${target.name} kill -9: redelivered after ${Date.now() - killedAt} ms`);
    await settled(survivor);
    expect(handled).toEqual([{ id: messageID, attempt: 2 }]);
  }, 40_000);

  test("a retry waiting for its delay survives a crash of the consumer", async () => {
    const ns = namespace("delay");
    const seen: { node: string; attempt: number | undefined; id: string | undefined }[] = [];
    const service = (name: string, fail: boolean) =>
      defineService({
        name: "reports",
        events: {
          "report.build": {
            durable: true,
            backoff: { delay: 500, maxDelay: 500 },
            handler(ctx) {
              seen.push({ node: name, attempt: ctx.attempt, id: ctx.messageID });
              if (fail) throw new Error("not yet");
            },
          },
        },
      });
    // Backoff has full jitter; pinned, the retry surely waits its 500 ms.
    const random = vi.spyOn(Math, "random").mockReturnValue(1);
    try {
      const first = node(ns, [service("first", true)]);
      await first.start();
      await first.emit("report.build", { id: 1 }, { durable: true });
      await until(() => seen.length === 1, { message: "the first attempt" });
      await crashNode(first);
      const second = node(ns, [service("second", false)]);
      await second.start();
      await until(() => seen.length === 2, { timeout: 10_000, message: "the retry, elsewhere" });
      expect(seen[1]).toMatchObject({ node: "second", attempt: 2, id: seen[0]?.id });
    } finally {
      random.mockRestore();
    }
  });

  test("a broker restart under 10,000 confirmed events loses none", async () => {
    if (target.restart === undefined) throw new Error(`${target.name} has no restart harness`);
    const server = await target.restart();
    try {
      await restartUnderLoad(server, node, namespace("restart"));
    } finally {
      await Promise.allSettled([server.cleanup()]);
    }
  }, 120_000);
}

async function restartUnderLoad(
  server: Awaited<ReturnType<NonNullable<DurableTarget["restart"]>>>,
  node: NodeMaker,
  ns: string,
): Promise<void> {
  const total = 10_000;
  const handled = new Map<number, number>();
  // Heartbeats outlast the outage, so neither node drops the other; no breaker opens meanwhile.
  const settings: BrokerOptions = { heartbeatTimeout: 60_000, circuitBreaker: false };
  const sink = defineService({
    name: "sink",
    events: {
      "load.item": {
        durable: true,
        concurrency: 100,
        handler(ctx) {
          const seq = (ctx.params as { seq: number }).seq;
          handled.set(seq, (handled.get(seq) ?? 0) + 1);
        },
      },
    },
  });
  const consumer = node(ns, [sink], { ...settings, transporter: server.transporter() });
  const emitter = node(ns, [], { ...settings, transporter: server.transporter() });
  await Promise.all([consumer.start(), emitter.start()]);
  const confirmed = new Set<number>();
  const rejected: { code?: string; retryable?: boolean }[] = [];
  let next = 0;
  const publisher = async () => {
    while (next < total) {
      const seq = next++;
      for (;;) {
        try {
          await emitter.emit("load.item", { seq }, { durable: true });
          confirmed.add(seq);
          break;
        } catch (err) {
          rejected.push(err as { code?: string; retryable?: boolean });
          // Not confirmed: publish it again, paced (a new message ID: at least once).
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      }
    }
  };
  const publishers = Promise.all(Array.from({ length: 100 }, publisher));
  await until(() => confirmed.size >= 3_000, { timeout: 30_000, message: "3,000 confirms" });
  await server.down();
  await until(() => rejected.length > 0, { timeout: 15_000, message: "a refused publish" });
  await server.up();
  await publishers;
  await until(() => handled.size === total, { timeout: 60_000, message: "every event handled" });
  const deliveries = [...handled.values()].reduce((a, b) => a + b, 0);
  console.info(
    `restart: ${confirmed.size} confirmed, ${rejected.length} refused and published again, ` +
      `${deliveries - total} duplicate deliveries`,
  );
  expect(confirmed.size).toBe(total);
  expect([...confirmed].filter((seq) => !handled.has(seq))).toEqual([]);
  for (const err of rejected) {
    expect(err).toMatchObject({ code: "DURABLE_PUBLISH_FAILED", retryable: true });
  }
}
