import { defineService, type ServiceBroker } from "flotilla";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeHeader,
  durableNames,
  encodeHeader,
  nameToken,
} from "../../src/transporters/nats/durable-names.js";
import { NatsTransporter } from "../../src/transporters/nats/index.js";
import { runWithout } from "../integration/private-servers-nats-redis.js";
import { durableNodes, type Log, recorder } from "./durable-kit.js";
import {
  JetStreamAdmin,
  NATS_URL,
  requireNats,
  uniqueNamespace,
  until,
} from "./fixtures/nats-helpers.js";

// Durable events through the public broker API on the JetStream of this machine
// (127.0.0.1:4222). Every test has a namespace of its own; afterAll deletes their streams (and
// with them the consumers). Down means failed in CI, skipped elsewhere.
const reachable = await requireNats();
const namespaces = new Set<string>();
let admin: JetStreamAdmin;

beforeAll(async () => {
  if (reachable) admin = await JetStreamAdmin.open();
});

afterAll(async () => {
  if (!reachable) return;
  await admin.deleteNamespaces(namespaces);
  await admin.close();
});

function namespace(tag: string): string {
  const ns = uniqueNamespace(tag);
  namespaces.add(ns);
  return ns;
}

const node = durableNodes(NATS_URL);

const settled = (b: ServiceBroker) => until(() => b.health().inFlight === 0, "the acks");

describe.skipIf(!reachable)("durable events on nats:// (JetStream)", () => {
  it("keep an event emitted while its consumer is down, and deliver it when it starts", async () => {
    const ns = namespace("down");
    const log: Log = [];
    // A first run of the consumer creates its group's durable consumer, then stops.
    const first = node(ns, [recorder("mailer", "order.placed", log)]);
    await first.start();
    await first.stop();

    const emitter = node(ns);
    await emitter.start();
    await emitter.emit("order.placed", { orderId: 7 }, { durable: true });
    // emit resolved on the PubAck: the stream holds it, owed to the group's consumer.
    expect(await admin.consumer(ns, "order.placed", "mailer")).toMatchObject({ pending: 1 });
    expect(await admin.streamMessages(ns)).toBe(1);

    const second = node(ns, [recorder("mailer", "order.placed", log)]);
    await second.start();
    await until(() => log.length === 1, "the delivery");
    expect(log[0]).toMatchObject({ params: { orderId: 7 }, attempt: 1 });
    expect(log[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    await settled(second);
    await until(
      async () => (await admin.consumer(ns, "order.placed", "mailer")).unacked === 0,
      "the server to have the ack",
    );
    // Acked by the only group: the stream lets it go.
    await until(async () => (await admin.streamMessages(ns)) === 0, "the stream to drop it");
    const { config } = await admin.consumer(ns, "order.placed", "mailer");
    expect(config).toMatchObject({ ack_policy: "explicit", max_deliver: -1, ack_wait: 30e9 });
  });

  it("give every group each message once, shared among the members of a group", async () => {
    const ns = namespace("groups");
    const log: Log = [];
    const a = node(ns, [recorder("email", "user.created", log, "email-a")]);
    const b = node(ns, [recorder("email", "user.created", log, "email-b")]);
    const c = node(ns, [recorder("audit", "user.created", log, "audit")]);
    const emitter = node(ns);
    await Promise.all([a.start(), b.start(), c.start(), emitter.start()]);
    const total = 60;
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        emitter.emit("user.created", { i }, { durable: true }),
      ),
    );
    await until(() => log.length === total * 2, `${total * 2} deliveries`);
    const email = log.filter((l) => l.tag.startsWith("email"));
    const audit = log.filter((l) => l.tag === "audit");
    expect(new Set(email.map((l) => l.id)).size).toBe(total);
    expect(new Set(audit.map((l) => l.id)).size).toBe(total);
    expect(email.filter((l) => l.tag === "email-a").length).toBeGreaterThan(0);
    expect(email.filter((l) => l.tag === "email-b").length).toBeGreaterThan(0);
    await Promise.all(node.live.map(settled));
    for (const group of ["email", "audit"]) {
      await until(
        async () => (await admin.consumer(ns, "user.created", group)).unacked === 0,
        `${group}'s acks`,
      );
    }
    expect(log.length).toBe(total * 2); // nothing came twice
  });

  it("retry a failing handler after a delay, same message ID, attempts 1, 2, 3", async () => {
    const ns = namespace("retry");
    const seen: { id: string | undefined; attempt: number | undefined }[] = [];
    const billing = defineService({
      name: "billing",
      events: {
        "invoice.due": {
          durable: true,
          maxRetries: 3,
          backoff: { delay: 50 },
          handler(ctx) {
            seen.push({ id: ctx.messageID, attempt: ctx.attempt });
            if (seen.length < 3) throw new Error("ledger locked");
          },
        },
      },
    });
    const consumer = node(ns, [billing]);
    await consumer.start();
    await consumer.emit("invoice.due", { n: 1 });
    await until(() => seen.length === 3, "three attempts");
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(1);
    await settled(consumer);
    expect(await consumer.deadLetters.list()).toEqual([]);
    expect(seen).toHaveLength(3);
  });

  it("dead-letter after the retries with the error; list and replay to that group only", async () => {
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
    await consumer.emit("payment.failed", { p: 9 });
    await until(async () => (await consumer.deadLetters.list()).length === 1, "the dead letter");
    const letters = await consumer.deadLetters.list();
    expect(consumer.deadLetters.persistent).toBe(true);
    const letter = letters[0]!;
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
    expect(letter.info.failedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(ledger.map((l) => l.attempt)).toEqual([1, 2, 3]);
    expect(letter.id).toBe(ledger[0]?.id);
    // The encoded packet, as the CLI shows it.
    expect(Buffer.from(letter.data).toString()).toContain('"payment.failed"');
    expect(await consumer.deadLetters.list()).toHaveLength(1); // listing consumes nothing
    await settled(consumer);

    failing = false;
    await expect(consumer.deadLetters.replay(letter.id)).resolves.toBe(true);
    await until(() => ledger.length === 4, "the replayed delivery");
    expect(ledger[3]).toMatchObject({ id: letter.id, attempt: 1 });
    await settled(consumer);
    // The other group's consumer saw the replay too, and skipped it (acked, not handled).
    await until(
      async () => (await admin.consumer(ns, "payment.failed", "audit")).unacked === 0,
      "audit to skip the replay",
    );
    await until(async () => (await admin.streamMessages(ns)) === 0, "the stream to drop both");
    expect(audit).toHaveLength(1);
    expect(await consumer.deadLetters.list()).toEqual([]);
    await expect(consumer.deadLetters.replay(letter.id)).resolves.toBe(false);
  });

  it("deliver a broadcast durable event to every instance", async () => {
    const ns = namespace("broadcast");
    const log: Log = [];
    const cache = (tag: string) =>
      recorder("cache", "price.changed", log, tag, { kind: "broadcast" });
    const [a, b, emitter] = [node(ns, [cache("a")]), node(ns, [cache("b")]), node(ns)];
    await Promise.all([a.start(), b.start(), emitter.start()]);
    for (let i = 0; i < 5; i++) await emitter.emit("price.changed", { i }, { durable: true });
    await until(() => log.length === 10, "ten deliveries");
    for (const tag of ["a", "b"]) {
      const mine = log.filter((l) => l.tag === tag);
      expect(mine.map((l) => (l.params as { i: number }).i).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(new Set(mine.map((l) => l.id)).size).toBe(5);
    }
    await Promise.all([a, b].map(settled));
    expect(log).toHaveLength(10);
  });

  it("keep a handler that outlasts ack_wait to itself: its member says it is still working", async () => {
    const ns = namespace("long");
    const runs: (number | undefined)[] = [];
    const slow = defineService({
      name: "report",
      events: {
        "report.requested": {
          durable: true,
          async handler(ctx) {
            runs.push(ctx.attempt);
            // Two and a half times ack_wait.
            await new Promise((resolve) => setTimeout(resolve, 2500));
          },
        },
      },
    });
    // The group's consumer was made with the default ack_wait; this member sets 1 s.
    const first = node(ns, [slow]);
    await first.start();
    await first.stop();
    const transporter = new NatsTransporter({ servers: ["127.0.0.1:4222"], ackWait: 1000 });
    const consumer = node(ns, [slow], { transporter });
    await consumer.start();
    await consumer.emit("report.requested", {});
    await until(() => runs.length === 1, "the delivery");
    await settled(consumer);
    await until(
      async () => (await admin.consumer(ns, "report.requested", "report")).unacked === 0,
      "the ack",
    );
    expect(runs).toEqual([1]);
    expect((await admin.consumer(ns, "report.requested", "report")).config.ack_wait).toBe(1e9);
  });

  it("without @nats-io/jetstream, say which package to install", async () => {
    const out = await runWithout(
      ["@nats-io/jetstream"],
      `const { ServiceBroker } = await import("./src/index.ts");
       const broker = new ServiceBroker({ namespace: "missing", logger: false, transporter: "nats://127.0.0.1:4222" });
       broker.createService({ name: "m", events: { "x.y": { durable: true, handler() {} } } });
       const err = await broker.start().catch((e) => e);
       console.log(JSON.stringify({ code: err?.code, message: err?.message }));
       process.exit(0);`,
    );
    const err = JSON.parse(out) as { code: string; message: string };
    expect(err.code).toBe("MISSING_DEPENDENCY");
    expect(err.message).toContain("npm install @nats-io/jetstream");
  });
});

describe("JetStream names of durable events", () => {
  it("are one-to-one and valid whatever the namespace, event and group", () => {
    const names = durableNames("shop");
    expect(names).toMatchObject({
      stream: "FLOTILLA_shop",
      streamSubjects: "flo.shop.durable.>",
      deadLetterStream: "FLOTILLA_shop_DLQ",
      deadLetterSubject: "flo.shop.dlq",
    });
    expect(names.subject("orders.placed")).toBe("flo.shop.durable.orders.placed");
    expect(names.subject("a b.>")).toBe("flo.shop.durable.a%20b.%3E");
    expect(names.consumer("orders.placed", "email")).toBe("orders_2Eplaced__email");
    // A dot, underscore or the separator itself cannot make two names meet.
    expect(durableNames("a.b").stream).not.toBe(durableNames("a_b").stream);
    expect(durableNames("a_DLQ").stream).not.toBe(durableNames("a").deadLetterStream);
    expect(names.consumer("a__b", "c")).not.toBe(names.consumer("a", "b__c"));
    expect(durableNames("").stream).toBe("FLOTILLA_default");
    expect(nameToken("x.y*z>")).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(names.consumer("e".repeat(300), "g").length).toBeLessThanOrEqual(200);
    expect(names.consumer("e".repeat(300), "g")).not.toBe(names.consumer("e".repeat(301), "g"));
  });

  it("carry any text in headers: CR, LF, % and whitespace at the ends survive", () => {
    for (const text of ["plain", "line 1\nline 2\r\n", " padded ", "100% sure", "naïve ☃", ""]) {
      const encoded = encodeHeader(text);
      expect(encoded).not.toMatch(/[\r\n]/);
      expect(encoded).toBe(encoded.trim());
      expect(decodeHeader(encoded)).toBe(text);
    }
  });
});
