// Fault test 2: the message broker (a nats-server with JetStream, or a redis-server writing every
// command to disk, of the test's own) is killed while `orders` commits. The calls still succeed, their events wait in the outbox (the backlog
// in health grows), and once the broker is back every event reaches the consumer.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ServiceBroker } from "../../../src/index.js";
import { PrivateServer, type PrivateServerOptions, until } from "../../harness/index.js";
import {
  committedSeqs,
  consumerNode,
  type Delivery,
  type Dialect,
  outboxRows,
  requirePostgres,
  type TestDatabase,
  tally,
  testDatabase,
  unique,
} from "./kit.js";
import { ordersService } from "./orders.js";

/** Events committed while the broker is up, then while it is down. */
const BEFORE = 20;
const DURING = 300;

/** The private message brokers, and how their clients come back quickly after an outage. */
const KINDS = {
  nats: { options: { jetstream: true }, query: "?reconnectWait=100&reconnectJitter=0" },
  redis: { options: { persistent: true }, query: "?maxReconnectWait=200" },
} as const satisfies Record<string, { options: PrivateServerOptions; query: string }>;
type Kind = keyof typeof KINDS;

const servers = new Map<Kind, PrivateServer>();
beforeAll(async () => {
  await requirePostgres();
  await Promise.all(
    (Object.keys(KINDS) as Kind[]).map(async (kind) => {
      servers.set(kind, await PrivateServer.start(kind, KINDS[kind].options));
    }),
  );
});
afterAll(() => PrivateServer.stopAll(), 60_000);

const CASES: readonly [Dialect, Kind][] = [
  ["sqlite", "nats"],
  ["postgres", "nats"],
  ["sqlite", "redis"],
  ["postgres", "redis"],
];

describe.each(CASES)("the message broker down during commits: %s, %s", (dialect, kind) => {
  let db: TestDatabase;
  const brokers: ServiceBroker[] = [];
  afterEach(async () => {
    await Promise.allSettled(brokers.splice(0).map((b) => b.stop()));
    await db?.drop();
  }, 30_000);

  it(`${DURING} events committed while the broker is down all arrive once it is back`, async () => {
    const server = servers.get(kind)!;
    db = testDatabase(dialect, "down");
    const namespace = unique("dfault-down");
    // Back within a moment of the server; nothing dropped for a silent peer meanwhile.
    const transporter = `${server.url}${KINDS[kind].query}`;
    const log: Delivery[] = [];
    const consumer = consumerNode(namespace, transporter, log, 16);
    const orders = new ServiceBroker({
      nodeID: unique("orders"),
      namespace,
      transporter,
      logger: false,
      heartbeatTimeout: 60_000,
    });
    orders.createService(
      ordersService({
        url: db.url,
        schema: db.schema,
        node: orders.nodeID,
        outbox: { pollInterval: 100 },
      }),
    );
    brokers.push(consumer, orders);
    await consumer.start();
    await orders.start();
    const outbox = () => orders.health().databases.orders!.outbox;

    const upStart = Date.now();
    for (let seq = 0; seq < BEFORE; seq++) await orders.call("orders.place", { seq });
    const perCallUp = (Date.now() - upStart) / BEFORE;
    await until(() => tally([], log).distinct === BEFORE, { message: "the events before" });

    await server.kill();
    const downAt = Date.now();
    // Each call answers: its row and its event are committed, whatever the broker does. The
    // backlog in health grows with them: half of them waiting, then all.
    const half = DURING / 2;
    const place = async (from: number, to: number) => {
      for (let seq = 1_000 + from; seq < 1_000 + to; seq++) {
        await expect(orders.call("orders.place", { seq })).resolves.toBe(seq);
      }
    };
    await place(0, half);
    const halfway = await until(() => outbox().backlog >= half && outbox().backlog, {
      timeout: 10_000,
      message: `a backlog of ${half} in health`,
    });
    await place(half, DURING);
    const committedDown = Date.now() - downAt;
    const backlog = await until(() => outbox().backlog >= DURING && outbox(), {
      timeout: 10_000,
      message: `a backlog of ${DURING} in health`,
    });
    expect(halfway).toBe(half);
    expect(orders.health().databases.orders!.ok).toBe(true);
    expect((await outboxRows(db)).rows).toBe(DURING);
    expect(tally([], log).distinct).toBe(BEFORE);
    // Every relay round of the outage claimed the rows, failed to publish them and put them back.
    const [tries] = await db.rows<{ max: number | string }>(
      "select max(attempts) as max from flotilla_outbox",
    );

    const upAt = Date.now();
    await server.start();
    await until(() => tally([], log).distinct === BEFORE + DURING, {
      timeout: 30_000,
      message: "every event at the consumer",
    });
    const arrived = Date.now() - upAt;
    await until(() => outbox().backlog === 0, { message: "a backlog of 0 in health" });
    expect((await outboxRows(db)).rows).toBe(0);

    const result = tally(await committedSeqs(db), log);
    console.info(
      `broker down (${dialect}, ${kind}): ${DURING} calls answered in ${committedDown} ms with the ` +
        `broker down (${(committedDown / DURING).toFixed(1)} ms a call; ${perCallUp.toFixed(1)} ` +
        `with it up), attempts of an event up to ${tries?.max}, backlog ${halfway} then ` +
        `${backlog.backlog} (oldest ${backlog.oldestAge} ms); all arrived ` +
        `${arrived} ms after the restart; lost ${result.lost.length}, duplicates ${result.duplicates}, ` +
        `published ${outbox().published}`,
    );
    expect(result.committed).toBe(BEFORE + DURING);
    expect(result.lost).toEqual([]);
    expect(result.phantom).toEqual([]);
    expect(outbox()).toMatchObject({ backlog: 0, failed: 0 });
  }, 90_000);
});
