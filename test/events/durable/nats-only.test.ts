import { defineService } from "flotilla";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeHeader,
  durableNames,
  encodeHeader,
  nameToken,
} from "../../../src/transporters/nats/durable-names.js";
import { requireServer, runWithout, SHARED, until } from "../../harness/index.js";
import { durableNodes, settled } from "./kit.js";
import { deleteNatsNamespaces, JetStreamAdmin } from "./servers.js";

// Durable events through the public broker API on the JetStream of this machine
// (127.0.0.1:4222), beyond the shared suite (nats.test.ts). Every test has a namespace of its
// own; after the file, their streams (and with them the consumers) are deleted.
const { node, namespace } = durableNodes(() => SHARED.nats.url, deleteNatsNamespaces);
let admin: JetStreamAdmin;

/** A member of group `report` whose handler works for 2.5 s (two and a half times ack_wait). */
const slowReport = (runs: (number | undefined)[]) =>
  defineService({
    name: "report",
    events: {
      "report.requested": {
        durable: true,
        async handler(ctx) {
          runs.push(ctx.attempt);
          await new Promise((resolve) => setTimeout(resolve, 2500));
        },
      },
    },
  });

describe("durable events on nats:// (JetStream)", () => {
  beforeAll(async () => {
    await requireServer("nats");
    admin = await JetStreamAdmin.open();
  });
  afterAll(() => admin?.close());

  it("keep a handler that outlasts ack_wait to itself: its member says it is still working", async () => {
    const runs: (number | undefined)[] = [];
    const slow = slowReport(runs);
    const ns = namespace("long");
    // The group's consumer was made with the default ack_wait; this member sets 1 s.
    const first = node(ns, [slow]);
    await first.start();
    await first.stop();
    const consumer = node(ns, [slow], { transporter: `${SHARED.nats.url}?ackWait=1000` });
    await consumer.start();
    await consumer.emit("report.requested", {});
    await until(() => runs.length === 1, { message: "the delivery" });
    await settled(consumer);
    await until(
      async () => (await admin.consumer(ns, "report.requested", "report")).unacked === 0,
      { message: "the ack" },
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
