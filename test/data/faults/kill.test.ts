// Fault test 1: an instance of `orders` SIGKILLed again and again while it commits, some kills
// between a commit and the publish of its event, until 1,000 transactions are in the table; then
// a relay publishes what is left, and every committed event reaches the consumer.
import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, it } from "vitest";
import { requireServer, until } from "../../harness/index.js";
import {
  committedSeqs,
  consumerNode,
  type Delivery,
  type Dialect,
  faultStage,
  Instance,
  killInstances,
  outboxEvents,
  outboxRows,
  RABBITMQ,
  requirePostgres,
  tally,
} from "./kit.js";

const TOTAL = 1_000;
/** A claim of a node that never comes back is free again after this long (ms). */
const LEASE = 1_500;
const POLL = 200;

/**
 * The rounds, in turn: an instance that only writes the outbox (its every kill lands between
 * commits and their publish), and instances that relay, killed while publishing. `A` comes back
 * under the same node ID (and takes its claims back at once); `new` is a node never seen before
 * (its claims wait for the lease).
 */
const PLAN: readonly { relay: boolean; node: "A" | "new" }[] = [
  { relay: false, node: "A" },
  { relay: true, node: "A" },
  { relay: true, node: "new" },
  { relay: false, node: "new" },
  { relay: true, node: "A" },
  { relay: true, node: "new" },
];

beforeAll(async () => {
  await requirePostgres();
  await requireServer("rabbitmq");
});
// Not after each test: the two run side by side (they mostly wait on their children).
afterAll(() => killInstances());

describe.concurrent.each<Dialect>(["sqlite", "postgres"])(
  "kill -9 between commit and publish: %s",
  (dialect) => {
    const { db, namespace, consumers } = faultStage(dialect, "kill", RABBITMQ);

    it(`${TOTAL} transactions across repeated SIGKILLs: no committed event is lost`, async ({
      expect,
    }) => {
      const started = Date.now();
      const log: Delivery[] = [];
      // The consumer's group exists before the first publish (RabbitMQ keeps nothing unrouted).
      const consumer = consumerNode(namespace, RABBITMQ.url, log, 32);
      consumers.push(consumer);
      await consumer.start();

      const spawnRound = (round: number) => {
        const step = PLAN[round % PLAN.length]!;
        return Instance.spawn({
          db,
          node: step.node === "A" ? "orders-A" : `orders-${round}`,
          namespace,
          transporter: RABBITMQ.url,
          relay: step.relay,
          lease: LEASE,
          poll: POLL,
          gate: true,
          work: "place",
          concurrency: 4,
        });
      };
      const kills: {
        node: string;
        relay: boolean;
        /** Commits the child reported before it died. */
        reported: number;
        /** Its rows in the table: what it did commit. */
        committed: number;
        /** Its events still in the outbox right after the kill: committed, not published. */
        unpublished: number;
        /** Of those, claimed by its relay: the kill came in the middle of their publish. */
        claimed: number;
        /** Rows in the outbox (of every round so far). */
        outbox: number;
        /** Transactions that threw in the child (and were tried again). */
        failed: number;
      }[] = [];
      let committed = 0;
      let round = 0;
      // The next two instances load (1-3 s of tsx each) while the current one works; each waits
      // at its gate.
      const queue = [spawnRound(0), spawnRound(1)];
      while (committed < TOTAL) {
        const current = queue.shift()!;
        queue.push(spawnRound(round + 2));
        await current.line((l) => l === "loaded", "loaded");
        const before = committed;
        // Sequence numbers of a round: (round + 1) * 10,000 + 0, 1, …; at most what is left.
        const base = (round + 1) * 10_000;
        current.go(TOTAL - committed, base);
        await current.ready();
        // A random point: after 60 to 260 reported commits (the child goes on meanwhile).
        const target = Math.min(randomInt(60, 260), TOTAL - committed);
        await current.committed(target);
        await current.kill();
        committed = (await committedSeqs(db)).length;
        const waiting = await outboxEvents(db);
        const own = waiting.filter((e) => e.seq >= base && e.seq < base + 10_000);
        kills.push({
          node: current.settings.node,
          relay: PLAN[round % PLAN.length]!.relay,
          reported: current.commits,
          committed: committed - before,
          unpublished: own.length,
          claimed: own.filter((e) => e.owner === current.settings.node).length,
          outbox: waiting.length,
          failed: current.lines.filter((l) => l.startsWith("failed")).length,
        });
        round++;
      }
      const killed = Date.now();
      expect(committed).toBe(TOTAL);

      // The next instance, loaded meanwhile, relays what is left and commits nothing. (Claims of
      // a node that died are its own again at once if it is `A`; else free after the lease.)
      const relay = queue.shift()!;
      await Promise.all(queue.map((i) => i.kill()));
      await relay.line((l) => l === "loaded", "loaded");
      relay.go(0, 0, true);
      await relay.ready();
      const seqs = await committedSeqs(db);
      await until(async () => (await outboxRows(db)).rows === 0, {
        timeout: 30_000,
        message: "an empty outbox",
      });
      await until(() => tally(seqs, log).lost.length === 0, {
        timeout: 30_000,
        message: "every committed event at the consumer",
      });
      const drained = Date.now();
      await relay.stop();
      // Redeliveries in flight settle before the count.
      await until(() => consumer.health().inFlight === 0, { message: "the consumer's acks" });
      const result = tally(seqs, log);

      const sum = (list: typeof kills, f: (k: (typeof kills)[number]) => number) =>
        list.reduce((n, k) => n + f(k), 0);
      const relaying = kills.filter((k) => k.relay);
      console.info(
        `kill -9 (${dialect}, rabbitmq): ${kills.length} kills (${relaying.length} of relaying ` +
          `instances), ${result.committed} committed, ${result.distinct} delivered, lost ` +
          `${result.lost.length}, phantom ${result.phantom.length}, duplicates ${result.duplicates}` +
          ` (${result.delivered} deliveries); events a killed instance had committed and not ` +
          `published: ${sum(kills, (k) => k.unpublished)} (${sum(relaying, (k) => k.unpublished)} ` +
          `of relaying ones, ${sum(relaying, (k) => k.claimed)} of them claimed mid-publish); ` +
          `commits not reported: ${sum(kills, (k) => k.committed - k.reported)}; transactions ` +
          `that threw: ${sum(kills, (k) => k.failed)}; kill phase ${killed - started} ms, drain ` +
          `(by ${relay.settings.node}) ${drained - killed} ms\n` +
          kills
            .map(
              (k) =>
                `  ${k.node} relay=${k.relay}: ${k.committed} committed (${k.reported} ` +
                `reported), ${k.unpublished} of them unpublished at the kill (${k.claimed} ` +
                `claimed), outbox ${k.outbox}`,
            )
            .join("\n"),
      );
      expect(result.lost).toEqual([]);
      expect(result.phantom).toEqual([]);
      expect(result.splitIDs).toBe(0);
      // Some kills did land between a commit and its publish.
      expect(kills.some((k) => !k.relay && k.unpublished > 0)).toBe(true);
      expect(kills.filter((k) => k.relay).length).toBeGreaterThan(0);
      expect(await outboxRows(db)).toEqual({ rows: 0, leased: 0 });
    }, 150_000);
  },
);
