// Fault test 4: three instances of `orders` commit into one outbox and relay it at the same time,
// starting on a backlog. Every event is published, and the events of one key reach a consumer that takes one message at
// a time in the order their transactions committed.
import { afterAll, beforeAll, describe, it } from "vitest";
import { ServiceBroker } from "../../../src/index.js";
import { requireServer, until } from "../../harness/index.js";
import {
  committedSeqs,
  consumerNode,
  type Delivery,
  type Dialect,
  faultStage,
  Instance,
  killInstances,
  NATS,
  outboxRows,
  RABBITMQ,
  requirePostgres,
  type SharedBroker,
  tally,
  unique,
} from "./kit.js";
import { ordersService } from "./orders.js";

const RELAYS = 3;
/** Events waiting in the outbox when the relays start. */
const BACKLOG = 300;
/** Transactions per instance; each takes the next number of the shared counter. */
const EACH = 150;
/** Sequence number n goes under key KEYS[n % 2]. */
const KEYS = ["even", "odd"] as const;

beforeAll(async () => {
  await requirePostgres();
  await requireServer("rabbitmq");
  await requireServer("nats");
});
// Not after each test: the two run side by side (they mostly wait on their children).
afterAll(() => killInstances());

/** Positions where a key's first deliveries go back in sequence. */
function outOfOrder(log: readonly Delivery[], key: (seq: number) => string) {
  const seen = new Set<number>();
  const last = new Map<string, number>();
  const wrong: { key: string; after: number; got: number }[] = [];
  for (const d of log) {
    if (seen.has(d.seq)) continue;
    seen.add(d.seq);
    const k = key(d.seq);
    const before = last.get(k);
    if (before !== undefined && d.seq < before) wrong.push({ key: k, after: before, got: d.seq });
    last.set(k, d.seq);
  }
  return wrong;
}

const CASES: readonly [Dialect, SharedBroker][] = [
  ["sqlite", NATS],
  ["postgres", RABBITMQ],
];

describe.concurrent.each(CASES)("relays sharing one outbox: %s", (dialect, broker) => {
  const { db, namespace, consumers } = faultStage(dialect, "share", broker);

  it(`${RELAYS} relays at once (${broker.name}): every event published, each key in order`, async ({
    expect,
  }) => {
    const log: Delivery[] = [];
    const consumer = consumerNode(namespace, broker.url, log, 1);
    consumers.push(consumer);
    await consumer.start();
    const instances = Array.from({ length: RELAYS }, (_, i) =>
      Instance.spawn({
        db,
        node: `orders-${i}`,
        namespace,
        transporter: broker.url,
        gate: true,
        poll: 200,
        work: "next",
        count: EACH,
        keys: KEYS,
        concurrency: 2,
      }),
    );
    // A backlog first, for the relays to fight over from their first round: BACKLOG events
    // committed by an instance that does not relay (here, while the others load).
    const filler = new ServiceBroker({ nodeID: unique("filler"), logger: false });
    filler.createService(
      ordersService({ url: db.url, schema: db.schema, node: "filler", outbox: { relay: false } }),
    );
    await filler.start();
    let filled = 0;
    const fill = async () => {
      while (filled < BACKLOG) {
        filled++;
        await filler.call("orders.next", { keys: [...KEYS] });
      }
    };
    await Promise.all([fill(), fill(), fill(), fill()]);
    await filler.stop();
    expect((await outboxRows(db)).rows).toBe(BACKLOG);

    await Promise.all(instances.map((i) => i.line((l) => l === "loaded", "loaded")));
    const go = Date.now();
    for (const i of instances) i.go();
    await Promise.all(instances.map((i) => i.line((l) => l === "done", "its commits")));
    const committed = Date.now() - go;
    const seqs = await committedSeqs(db);
    expect(seqs).toEqual(Array.from({ length: BACKLOG + RELAYS * EACH }, (_, i) => i + 1));
    await until(() => tally(seqs, log).lost.length === 0, {
      timeout: 30_000,
      message: "every event at the consumer",
    });
    const delivered = Date.now() - go;
    await until(async () => (await outboxRows(db)).rows === 0, { message: "an empty outbox" });
    await Promise.all(instances.map((i) => i.stop()));

    const result = tally(seqs, log);
    const bySender = new Map<string, number>();
    for (const d of log) bySender.set(d.sender, (bySender.get(d.sender) ?? 0) + 1);
    const wrong = outOfOrder(log, (seq) => KEYS[seq % KEYS.length]!);
    console.info(
      `relay sharing (${dialect}, ${broker.name}): a backlog of ${BACKLOG}, then ` +
        `${result.committed - BACKLOG} committed by ${RELAYS} instances in ${committed} ms, all delivered after ${delivered} ms; published by ` +
        `${[...bySender].map(([n, c]) => `${n}: ${c}`).join(", ")}; lost ${result.lost.length}, ` +
        `duplicates ${result.duplicates}, out of order ${wrong.length}`,
    );
    expect(result.lost).toEqual([]);
    expect(result.phantom).toEqual([]);
    expect(wrong).toEqual([]);
    // Which relay published how many is reported, not required: on SQLite one relay may take
    // most of the work, or all of it (a relay that drained a full batch claims the next one at
    // once; the others, blocked on the keys it holds, look again after their poll interval).
  }, 90_000);
});
