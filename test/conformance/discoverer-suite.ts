import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { crashNode, waitForEvent } from "flotilla/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";

/** How the suite runs one kind of discoverer. */
export interface DiscovererTarget {
  name: string;
  /** Starts what the discoverer needs (a private registry server). */
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  /** The transporter and `discovery` options of one broker; called once per broker. */
  options: () => BrokerOptions;
  /** The nodeIDs the registry lists now for `namespace`, where the registry can be asked. */
  listed?: (namespace: string) => Promise<string[]>;
}

/** How long a node's entry outlives it (the broker's `heartbeatTimeout`), in ms. */
const TTL = 2_000;
/** A TTL no test waits out: what is removed before it was removed by a goodbye. */
const LONG_TTL = 10_000;

let seq = 0;

/** One service per node, answering with the node's own ID and run (its token). */
function whoami(name: string, token: string) {
  return defineService({ name, actions: { who: { handler: () => token } } });
}

const watcher = defineService({ name: "watcher", events: { "$node.*": { handler: () => {} } } });

/**
 * What every discoverer must give the broker, through the public API: nodes see each other,
 * service changes propagate, a graceful leave is seen at once, a crash within the TTL, and a
 * node restarted under its ID is seen as its new run.
 */
export function runDiscovererConformance(target: DiscovererTarget): void {
  const live: ServiceBroker[] = [];
  let namespace = "";

  const node = (nodeID: string, extra: BrokerOptions = {}) => {
    const broker = new ServiceBroker({
      nodeID,
      namespace,
      logger: false,
      heartbeatInterval: 100,
      heartbeatTimeout: TTL,
      ...target.options(),
      ...extra,
    });
    live.push(broker);
    return broker;
  };

  describe(`discoverer conformance: ${target.name}`, () => {
    beforeAll(async () => target.setup?.());
    afterAll(async () => target.teardown?.());
    afterEach(async () => {
      await Promise.allSettled(live.splice(0).map((b) => b.stop()));
    });
    // A namespace per test: no test sees another's nodes, nor their leftover entries.
    const test = (name: string, fn: () => Promise<void>) =>
      it(name, async () => {
        seq += 1;
        namespace = `disc-${process.pid}-${seq}`;
        await fn();
      });

    test("nodes started one after another all see each other and call each other", async () => {
      const nodes = ["a", "b", "c"].map((id) => node(id));
      for (const [i, n] of nodes.entries()) n.createService(whoami(`svc${i}`, n.nodeID));
      for (const n of nodes) await n.start();
      for (const n of nodes) await n.waitForServices(["svc0", "svc1", "svc2"], 10_000);
      for (const n of nodes) {
        expect([...n.registry.remote.nodes.keys()].sort()).toEqual(
          ["a", "b", "c"].filter((id) => id !== n.nodeID),
        );
        await expect(n.call("svc2.who", {})).resolves.toBe("c");
      }
    });

    test("a service started on a running node reaches the others", async () => {
      const a = node("a");
      const b = node("b");
      await a.start();
      await b.start();
      await until(() => a.registry.remote.nodes.has("b"), { message: "a to see b" });
      b.createService(whoami("late", "late-on-b"));
      await a.waitForServices("late", 10_000);
      await expect(a.call("late.who", {})).resolves.toBe("late-on-b");
    });

    test("a node that stops gracefully is removed at once, not when its entry expires", async () => {
      const observer = node("observer", { heartbeatTimeout: LONG_TTL });
      observer.createService(watcher);
      const leaver = node("leaver", { heartbeatTimeout: LONG_TTL });
      leaver.createService(whoami("leaving", "x"));
      await observer.start();
      await leaver.start();
      await observer.waitForServices("leaving", 10_000);
      const gone = waitForEvent(observer, "$node.disconnected", undefined, {
        timeout: LONG_TTL / 2,
      });
      await leaver.stop();
      expect((await gone).params).toEqual({ nodeID: "leaver", unexpected: false });
      expect(observer.registry.isAvailable("leaving")).toBe(false);
      const listed = target.listed;
      if (listed) {
        await until(async () => !(await listed(namespace)).includes("leaver"), {
          timeout: LONG_TTL / 2,
          message: "the leaver's entry to go",
        });
      }
    });

    test("a node that crashes is removed within the TTL", async () => {
      const observer = node("observer");
      observer.createService(watcher);
      const victim = node("victim");
      victim.createService(whoami("doomed", "x"));
      await observer.start();
      await victim.start();
      await observer.waitForServices("doomed", 10_000);
      const gone = waitForEvent(observer, "$node.disconnected", undefined, {
        timeout: TTL * 3,
      });
      await crashNode(victim);
      expect((await gone).params).toMatchObject({ nodeID: "victim" });
      expect(observer.registry.isAvailable("doomed")).toBe(false);
      // The registry forgets it by itself too: its lease or session expired with no goodbye.
      const listed = target.listed;
      if (listed) {
        await until(async () => !(await listed(namespace)).includes("victim"), {
          timeout: TTL * 3,
          message: "the crashed node's entry to expire",
        });
      }
    });

    test("a node restarted under its ID is seen as its new run", async () => {
      const observer = node("observer");
      await observer.start();
      const first = node("phoenix");
      first.createService(whoami("bird", "first run"));
      await first.start();
      await observer.waitForServices("bird", 10_000);
      const before = observer.registry.remote.nodes.get("phoenix")?.instanceID;
      await crashNode(first);
      const second = node("phoenix");
      second.createService(whoami("bird", "second run"));
      await second.start();
      await until(
        () => {
          const now = observer.registry.remote.nodes.get("phoenix")?.instanceID;
          return now !== undefined && now !== before && observer.registry.isAvailable("bird");
        },
        { timeout: TTL * 3, message: "the observer to see phoenix's new run" },
      );
      await expect(observer.call("bird.who", {})).resolves.toBe("second run");
    });
  });
}
