import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Transporter } from "../../src/transporters/transporter.js";
import { bytes, Probe, text } from "./helpers.js";

/** What the suite needs from one transporter kind, fresh for every test. */
export interface TransporterHarness {
  /** A new, unconnected transporter for `nodeID`. */
  create(nodeID: string): Transporter;
  /** Ends a node as a crash would: no goodbye. */
  kill(transporter: Transporter, nodeID: string): Promise<void>;
  /** Releases what the harness holds (buses, temp directories). */
  cleanup?(): Promise<void>;
}

/** One implementation under test. */
export interface TransporterSuiteTarget {
  name: string;
  harness: () => TransporterHarness | Promise<TransporterHarness>;
  /** Tests this implementation cannot pass, each group with its reason. */
  skip?: { reason: string; tests: string[] }[];
}

/** A connected node of a test. */
export interface TestNode {
  readonly nodeID: string;
  readonly transporter: Transporter;
  readonly probe: Probe;
}

/**
 * The behaviour every transporter owes transit, bytes in and bytes out (no broker involved):
 * delivery, order, fan-out, isolation of topics, large payloads, and what peers learn when a
 * node comes, leaves or dies. Each implementation runs it with its own harness.
 */
export function runTransporterSuite(target: TransporterSuiteTarget): void {
  const skipped = new Map(target.skip?.flatMap((s) => s.tests.map((t) => [t, s.reason])) ?? []);
  const test = (name: string, fn: () => Promise<void>) => {
    const reason = skipped.get(name);
    if (reason === undefined) it(name, fn);
    else it.skip(`${name} (skipped: ${reason})`, fn);
  };

  describe(`transporter suite: ${target.name}`, () => {
    let harness: TransporterHarness;
    const live: TestNode[] = [];

    /** Connects a node and subscribes it to `topics`; nodes start one after the other. */
    const start = async (nodeID: string, topics: string[] = []): Promise<TestNode> => {
      const transporter = harness.create(nodeID);
      const probe = new Probe(nodeID);
      await transporter.connect(probe.context());
      const node = { nodeID, transporter, probe };
      live.push(node);
      for (const topic of topics) await transporter.subscribe(topic);
      return node;
    };
    const receive = (node: TestNode, topic: string, count: number) =>
      node.probe.until(() => node.probe.texts(topic).length >= count, `${count} on ${topic}`);

    beforeEach(async () => {
      harness = await target.harness();
    });
    afterEach(async () => {
      await Promise.allSettled(live.splice(0).map((n) => n.transporter.disconnect()));
      await harness.cleanup?.();
    });

    test("delivers a message to a subscriber on another node", async () => {
      const a = await start("a");
      const b = await start("b", ["t"]);
      await a.transporter.publish("t", bytes("hello"));
      await receive(b, "t", 1);
      expect(b.probe.texts("t")).toEqual(["hello"]);
    });

    test("delivers to every subscriber, the publisher too when it subscribed", async () => {
      const a = await start("a", ["t"]);
      const b = await start("b", ["t"]);
      const c = await start("c", ["t"]);
      const d = await start("d", ["other"]);
      await a.transporter.publish("t", bytes("all"));
      await Promise.all([a, b, c].map((n) => receive(n, "t", 1)));
      await a.transporter.publish("other", bytes("marker"));
      await receive(d, "other", 1);
      for (const n of [a, b, c]) expect(n.probe.texts("t")).toEqual(["all"]);
      expect(d.probe.texts("t")).toEqual([]);
    });

    test("delivers asynchronously, never inside publish()", async () => {
      const a = await start("a", ["t"]);
      const sent = a.transporter.publish("t", bytes("later"));
      expect(a.probe.received).toHaveLength(0);
      await sent;
      await receive(a, "t", 1);
    });

    test("keeps topics apart", async () => {
      const a = await start("a");
      const b = await start("b", ["x"]);
      for (const topic of ["y", "x.y", "X", "x"]) await a.transporter.publish(topic, bytes(topic));
      // "x" went last on the same link: had any other topic been delivered, it would be here.
      await receive(b, "x", 1);
      expect(b.probe.received.map((r) => r.topic)).toEqual(["x"]);
    });

    test("keeps publish order from one publisher to one subscriber", async () => {
      const a = await start("a", ["t"]);
      const b = await start("b", ["t"]);
      const expected = Array.from({ length: 200 }, (_, i) => `m${i}`);
      for (const m of expected) await a.transporter.publish("t", bytes(m));
      await Promise.all([receive(a, "t", 200), receive(b, "t", 200)]);
      expect(b.probe.texts("t")).toEqual(expected);
      expect(a.probe.texts("t")).toEqual(expected);
    });

    test("delivers 1000 messages in flight, all and in order", async () => {
      const a = await start("a");
      const b = await start("b", ["t"]);
      const expected = Array.from({ length: 1000 }, (_, i) => `m${i}`);
      await Promise.all(expected.map((m) => a.transporter.publish("t", bytes(m))));
      await receive(b, "t", 1000);
      expect(b.probe.texts("t")).toEqual(expected);
    });

    test("carries a 1 MB payload byte for byte", async () => {
      const a = await start("a", ["big"]);
      const b = await start("b", ["big"]);
      const payload = new Uint8Array(randomBytes(1024 * 1024));
      await a.transporter.publish("big", payload);
      await Promise.all([receive(a, "big", 1), receive(b, "big", 1)]);
      for (const n of [a, b]) {
        expect(Buffer.compare(Buffer.from(n.probe.received[0]?.data ?? []), payload)).toBe(0);
      }
    });

    test("a receiver that changes its bytes changes nothing for anyone else", async () => {
      const a = await start("a", ["t"]);
      const b = await start("b", ["t"]);
      const payload = bytes("abc");
      await a.transporter.publish("t", payload);
      await Promise.all([receive(a, "t", 1), receive(b, "t", 1)]);
      a.probe.received[0]?.data.fill(0);
      expect(text(payload)).toBe("abc");
      expect(b.probe.texts("t")).toEqual(["abc"]);
    });

    test("tells each side when a peer comes up", async () => {
      const a = await start("a");
      const b = await start("b");
      await a.probe.until(() => a.probe.up.includes("b"), "a to see b up");
      await b.probe.until(() => b.probe.up.includes("a"), "b to see a up");
    });

    test("reports a peer that leaves, after the messages it sent", async () => {
      const a = await start("a", ["t"]);
      const b = await start("b");
      await b.transporter.publish("t", bytes("last words"));
      await b.transporter.disconnect();
      await a.probe.until(() => a.probe.down.includes("b"), "a to see b down");
      const log = a.probe.log.filter((e) => e.startsWith("msg:") || e.startsWith("down:"));
      expect(log).toEqual(["msg:t:last words", "down:b"]);
    });

    test("reports a peer that is killed", async () => {
      const a = await start("a");
      const b = await start("b");
      const c = await start("c");
      await harness.kill(b.transporter, "b");
      await a.probe.until(() => a.probe.down.includes("b"), "a to see b down");
      await c.probe.until(() => c.probe.down.includes("b"), "c to see b down");
      expect(a.probe.down).toEqual(["b"]);
    });

    test("finds a node that joins late, both ways", async () => {
      const a = await start("a", ["back"]);
      const b = await start("b", ["t"]);
      await a.transporter.publish("t", bytes("early"));
      await receive(b, "t", 1);
      const c = await start("c", ["t"]);
      await a.transporter.publish("t", bytes("late"));
      await receive(c, "t", 1);
      await c.transporter.publish("back", bytes("from c"));
      await receive(a, "back", 1);
      expect(c.probe.texts("t")).toEqual(["late"]);
      expect(b.probe.texts("t")).toEqual(["early", "late"]);
    });

    test("reaches a node again after it restarts under the same nodeID", async () => {
      const a = await start("a");
      const b = await start("b", ["t"]);
      await harness.kill(b.transporter, "b");
      await a.probe.until(() => a.probe.down.includes("b"), "a to see b down");
      const again = await start("b", ["t"]);
      await a.transporter.publish("t", bytes("welcome back"));
      await receive(again, "t", 1);
      expect(again.probe.texts("t")).toEqual(["welcome back"]);
    });

    test("keeps its subscriptions across a reconnect", async () => {
      const a = await start("a", ["t"]);
      const b = await start("b");
      await a.transporter.disconnect();
      const probe = new Probe("a");
      await a.transporter.connect(probe.context());
      const seen = () => b.probe.up.filter((id) => id === "a").length;
      await b.probe.until(() => seen() === 2, "b to meet a again");
      await b.transporter.publish("t", bytes("still there"));
      await probe.until(() => probe.texts("t").length === 1, "the message after reconnect");
    });
  });
}
