import { defineService } from "flotilla";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { jsonSerializer } from "../../../src/serializers/json.js";
import { decodePacket } from "../../../src/transit/codec.js";
import type { Transporter } from "../../../src/transporters/transporter.js";
import {
  PrivateServer,
  type PrivateServerOptions,
  requireServer,
  SHARED,
  type SharedServer,
  until,
} from "../../harness/index.js";
import { faultScenarios } from "./faults.js";
import { durableNodes, type Log, recorder, settled, startTogether } from "./kit.js";
import { killVictims, spawnVictim, type Victim } from "./victim.js";

/** A message broker of the test's own, to take down and bring back under load. */
export interface RestartHarness {
  transporter(): string | Transporter;
  down(): Promise<void>;
  up(): Promise<void>;
  cleanup(): Promise<void>;
}

/** One backend of durable events under test. */
export interface DurableTarget {
  name: string;
  /** The transporter of one node (a URL, or a fresh transporter). */
  transporter(): string | Transporter;
  /** Starts a consumer of group `worker` of `job.run` in `namespace` that holds what it gets. */
  kill?(namespace: string): Promise<Victim>;
  /** A broker of the test's own for the restart under load. */
  restart?(): Promise<RestartHarness>;
  /** Deletes what the namespaces of the run left on the server. */
  cleanup?(namespaces: readonly string[]): Promise<void>;
  /** Tests this backend cannot pass, each group with its reason. */
  skip?: { reason: string; tests: string[] }[];
}

/** How the suite runs on one shared server, beyond its URL. */
export interface SharedServerSetup {
  /** Transporter options as a URL query (`?ackWait=2000`), for every node and the victim. */
  query?: string;
  /** The private server of the restart scenario, and how it is taken down (SIGKILL or SIGTERM). */
  restart: PrivateServerOptions & { down: "kill" | "stop" };
}

/**
 * The parts of a {@link DurableTarget} on the shared server `kind`: every node on it, the kill
 * victim in a process of its own, the restart on a private server of the same kind. A server
 * that is down fails the file with the command that starts it.
 *
 * @example
 * ```ts
 * runDurableConformance({
 *   name: "redis",
 *   ...onSharedServer("redis", { query: "?claimIdle=2000", restart: { persistent: true, down: "kill" } }),
 *   cleanup: deleteRedisNamespaces,
 * });
 * ```
 */
export function onSharedServer(
  kind: SharedServer,
  { query = "", restart: { down, ...options } }: SharedServerSetup,
): Pick<DurableTarget, "transporter" | "kill" | "restart"> {
  beforeAll(() => requireServer(kind));
  afterEach(killVictims);
  afterAll(() => PrivateServer.stopAll(), 60_000);
  const url = `${SHARED[kind].url}${query}`;
  return {
    transporter: () => url,
    kill: (namespace) => spawnVictim(url, namespace),
    async restart() {
      const server = await PrivateServer.start(kind, options);
      return {
        transporter: () => `${server.url}${query}`,
        down: () => server[down](),
        up: () => server.start(),
        cleanup: () => server.cleanup(),
      };
    },
  };
}

/**
 * The behaviour of durable events every backend owes (memory://, amqp://, nats://, redis://),
 * through the public broker API: ack after success, retries with backoff, dead letters and their
 * replay, the three handler kinds, messages kept while their consumer is down, and the faults
 * (kill -9 of a consumer, a broker restart under load).
 */
/**
 * The consumer groups of each event the suite uses, so a transporter's cleanup can delete the
 * queues it left (RabbitMQ keeps a durable queue per event and group).
 */
export const SUITE_GROUPS: Record<string, string[]> = {
  "order.placed": ["mailer"],
  "user.created": ["email", "audit"],
  "stock.audit": ["$single:stock.audit"],
  "invoice.due": ["billing"],
  "payment.failed": ["ledger", "audit"],
  "thing.broke": ["fragile"],
  "job.run": ["worker"],
  "report.build": ["reports"],
};

export function runDurableConformance(target: DurableTarget): void {
  const skipped = new Map(target.skip?.flatMap((s) => s.tests.map((t) => [t, s.reason])) ?? []);
  const test = (name: string, fn: () => Promise<void>, timeout?: number) => {
    const reason = skipped.get(name);
    if (reason === undefined) it(name, fn, timeout);
    else it.skip(`${name} (skipped: ${reason})`, fn);
  };
  const { node, namespace, live } = durableNodes(
    () => target.transporter(),
    async (namespaces) => target.cleanup?.(namespaces),
  );

  describe(`durable conformance: ${target.name}`, () => {
    test("acks after the handler succeeded: the message does not come again", async () => {
      const ns = namespace("ack");
      const log: Log = [];
      const first = node(ns, [recorder("mailer", "order.placed", log)]);
      await first.start();
      await first.emit("order.placed", { orderId: 7 }, { durable: true });
      await until(() => log.length === 1, { message: "the delivery" });
      expect(log[0]).toMatchObject({ params: { orderId: 7 }, attempt: 1 });
      expect(log[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
      await settled(first);
      await first.stop();
      // A new member of the group gets what comes next, and nothing before it.
      const second = node(ns, [recorder("mailer", "order.placed", log)]);
      await second.start();
      await second.emit("order.placed", { orderId: 8 }, { durable: true });
      await until(() => log.length === 2, { message: "the next delivery" });
      expect(log.map((l) => (l.params as { orderId: number }).orderId)).toEqual([7, 8]);
    });

    test("keeps an event emitted while its consumer is down, and delivers it when it starts", async () => {
      const ns = namespace("down");
      const log: Log = [];
      // A first run of the consumer makes its group, then stops.
      const first = node(ns, [recorder("mailer", "order.placed", log)]);
      await first.start();
      await first.stop();
      const emitter = node(ns);
      await emitter.start();
      await emitter.emit("order.placed", { orderId: 7 }, { durable: true });
      const second = node(ns, [recorder("mailer", "order.placed", log)]);
      await second.start();
      await until(() => log.length === 1, { message: "the delivery" });
      expect(log[0]).toMatchObject({ params: { orderId: 7 }, attempt: 1 });
    });

    test("balanced: every group gets each message once, shared among its members", async () => {
      const ns = namespace("groups");
      const log: Log = [];
      const a = node(ns, [recorder("email", "user.created", log, "email-a")]);
      const b = node(ns, [recorder("email", "user.created", log, "email-b")]);
      const c = node(ns, [recorder("audit", "user.created", log, "audit")]);
      const emitter = node(ns);
      await startTogether(a, b, c, emitter);
      const total = 40;
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          emitter.emit("user.created", { i }, { durable: true }),
        ),
      );
      await until(() => log.length === total * 2, { message: `${total * 2} deliveries` });
      const email = log.filter((l) => l.tag.startsWith("email"));
      expect(new Set(email.map((l) => l.id)).size).toBe(total);
      expect(new Set(log.filter((l) => l.tag === "audit").map((l) => l.id)).size).toBe(total);
      expect(email.filter((l) => l.tag === "email-a").length).toBeGreaterThan(0);
      expect(email.filter((l) => l.tag === "email-b").length).toBeGreaterThan(0);
      await Promise.all(live.map(settled));
      expect(log.length).toBe(total * 2); // no group got a message twice
    });

    test("broadcast: every instance gets each message", async () => {
      const ns = namespace("broadcast");
      const log: Log = [];
      const cache = (tag: string) =>
        recorder("cache", "cache.flush", log, tag, { kind: "broadcast" as const });
      const [a, b] = [node(ns, [cache("a")]), node(ns, [cache("b")])];
      await startTogether(a, b);
      for (let i = 0; i < 3; i++) await a.emit("cache.flush", { i }, { durable: true });
      await until(() => log.length === 6, { message: "six deliveries" });
      for (const tag of ["a", "b"]) {
        expect(new Set(log.filter((l) => l.tag === tag).map((l) => l.id)).size).toBe(3);
      }
    });

    test("single: one handler in the whole cluster gets each message", async () => {
      const ns = namespace("single");
      const log: Log = [];
      const svc = (name: string, tag: string) =>
        recorder(name, "stock.audit", log, tag, { kind: "single" as const });
      const [a, b] = [node(ns, [svc("mail", "a"), svc("sms", "a")]), node(ns, [svc("mail", "b")])];
      await startTogether(a, b);
      for (let i = 0; i < 6; i++) await a.emit("stock.audit", { i }, { durable: true });
      await until(() => log.length === 6, { message: "six deliveries" });
      await Promise.all([a, b].map(settled));
      expect(new Set(log.map((l) => l.id)).size).toBe(6);
    });

    test("retries a failing handler with backoff: same message ID, attempts 1, 2, 3", async () => {
      const ns = namespace("retry");
      const seen: { id: string | undefined; attempt: number | undefined }[] = [];
      const billing = defineService({
        name: "billing",
        events: {
          "invoice.due": {
            durable: true,
            maxRetries: 3,
            backoff: { delay: 10, factor: 2 },
            handler(ctx) {
              seen.push({ id: ctx.messageID, attempt: ctx.attempt });
              if (seen.length < 3) throw new Error("ledger locked");
            },
          },
        },
      });
      const consumer = node(ns, [billing]);
      await consumer.start();
      await consumer.emit("invoice.due", { n: 1 }, { durable: true });
      await until(() => seen.length === 3, { message: "three attempts" });
      expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
      expect(new Set(seen.map((s) => s.id)).size).toBe(1);
      await settled(consumer);
      expect(await consumer.deadLetters.list()).toEqual([]);
      expect(seen).toHaveLength(3);
    });

    test("dead-letters after the retries with the error; lists and replays to that group only", async () => {
      const ns = namespace("dlq");
      let failing = true;
      const ledger: Log = [];
      const audit: Log = [];
      const ledgerService = defineService({
        name: "ledger",
        events: {
          "payment.failed": {
            durable: true,
            maxRetries: 2,
            backoff: { delay: 1 },
            handler(ctx) {
              ledger.push({ tag: "ledger", id: ctx.messageID, attempt: ctx.attempt, params: null });
              if (failing) throw new Error("ledger locked\nat line 2");
            },
          },
        },
      });
      const consumer = node(ns, [ledgerService, recorder("audit", "payment.failed", audit)]);
      await consumer.start();
      await consumer.emit("payment.failed", { p: 9 }, { durable: true });
      const [letter, ...more] = await until(
        async () => {
          const list = await consumer.deadLetters.list();
          return list.length > 0 && list;
        },
        { timeout: 10_000, message: "the dead letter" },
      );
      expect(more).toEqual([]);
      expect(letter).toMatchObject({
        stream: "payment.failed",
        info: {
          group: "ledger",
          code: "INTERNAL_ERROR",
          message: "ledger locked\nat line 2",
          attempts: 3,
          nodeID: consumer.nodeID,
        },
      });
      expect(letter?.info.failedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(ledger.map((l) => l.attempt)).toEqual([1, 2, 3]);
      expect(letter?.id).toBe(ledger[0]?.id);
      // The event packet as it was published, decoded by the codec every node uses.
      const packet = decodePacket(jsonSerializer(), letter?.data ?? new Uint8Array());
      expect(packet.body).toMatchObject({ event: "payment.failed", payload: { p: 9 } });
      expect(await consumer.deadLetters.list()).toHaveLength(1); // listing consumes nothing
      await settled(consumer);

      failing = false;
      await expect(consumer.deadLetters.replay(letter?.id ?? "")).resolves.toBe(true);
      await until(() => ledger.length === 4, { message: "the replayed delivery" });
      expect(ledger[3]).toMatchObject({ id: letter?.id, attempt: 1 });
      await settled(consumer);
      expect(audit).toHaveLength(1); // the other group did not get it again
      expect(await consumer.deadLetters.list()).toEqual([]);
      await expect(consumer.deadLetters.replay(letter?.id ?? "")).resolves.toBe(false);
    });

    test("with deadLetter: false, drops a message after its retries", async () => {
      const ns = namespace("drop");
      const attempts: (number | undefined)[] = [];
      const fragile = defineService({
        name: "fragile",
        events: {
          "thing.broke": {
            durable: true,
            maxRetries: 1,
            deadLetter: false,
            backoff: { delay: 1 },
            handler(ctx) {
              attempts.push(ctx.attempt);
              throw new Error("never works");
            },
          },
        },
      });
      const consumer = node(ns, [fragile]);
      await consumer.start();
      await consumer.emit("thing.broke", {}, { durable: true });
      await until(() => attempts.length === 2, { message: "two attempts" });
      await settled(consumer);
      expect(attempts).toEqual([1, 2]);
      expect(await consumer.deadLetters.list()).toEqual([]);
    });

    faultScenarios(target, test, node, namespace);
  });
}
