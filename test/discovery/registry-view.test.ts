import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { NodeEntry } from "../../src/registry/discoverers/entry.js";
import { RegistryView, type ViewNode } from "../../src/registry/discoverers/registry-view.js";

// The view between a registry center and the catalogue: what it applies, what it holds back
// (empty-push protection), and what it refuses to read. A fake catalogue stands in for transit.

const LIVENESS = 1_000;
const RECHECK = 100;

function entry(nodeID: string, services: string[], instanceID = `${nodeID}-1`): string {
  const body: NodeEntry = {
    sender: nodeID,
    instanceID,
    seq: 1,
    hostname: "h",
    services: services.map((name) => ({ name, fullName: name, actions: [], events: [] })),
    client: { type: "flotilla", version: "0" },
    address: `127.0.0.1:${4000 + nodeID.length}`,
  };
  return JSON.stringify(body);
}

function setup() {
  const nodes = new Map<string, ViewNode>();
  const warnings: string[] = [];
  const peers = new Map<string, string>();
  /** Nodes the transporter has no session with. */
  const unreachable = new Set<string>();
  const logger = pino(
    { level: "info" },
    { write: (line: string) => void warnings.push(JSON.parse(line).msg) },
  );
  const view = new RegistryView(
    {
      nodeID: "me",
      instanceID: "me-1",
      logger,
      liveness: LIVENESS,
      nodes: () => nodes.values(),
      reachable: (id) => !unreachable.has(id),
      localServices: () => [],
      join: (e) =>
        nodes.set(e.sender, {
          id: e.sender,
          instanceID: e.instanceID,
          seq: e.seq,
          lastSeen: Date.now(),
          services: e.services,
        }),
      leave: (id) => nodes.delete(id),
      peer: (id, address) => (address === undefined ? peers.delete(id) : peers.set(id, address)),
    },
    RECHECK,
  );
  /** The node answered over the transporter just now (a heartbeat). */
  const heartbeat = (id: string) => {
    const node = nodes.get(id);
    if (node !== undefined) nodes.set(id, { ...node, lastSeen: Date.now() });
  };
  return { view, nodes, warnings, peers, heartbeat, unreachable };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the registry view", () => {
  it("follows puts, deletes and snapshots, and hands peers' addresses to the transporter", () => {
    const { view, nodes, peers } = setup();
    view.onSnapshot(
      new Map([
        ["a", entry("a", ["users"])],
        ["b", entry("b", ["users"])],
      ]),
    );
    expect([...nodes.keys()]).toEqual(["a", "b"]);
    expect(peers.get("a")).toBe("127.0.0.1:4001");
    view.onPut("c", entry("c", ["orders"]));
    view.onDelete("a"); // b still serves users: applied at once
    expect([...nodes.keys()].sort()).toEqual(["b", "c"]);
    expect(peers.has("a")).toBe(false);
    view.onSnapshot(
      new Map([
        ["c", entry("c", ["orders"])],
        ["d", entry("d", ["users"])],
      ]),
    );
    expect([...nodes.keys()].sort()).toEqual(["c", "d"]);
  });

  it("holds the last instances of a service that still answer, and drops them once silent", () => {
    const { view, nodes, warnings, heartbeat } = setup();
    view.onSnapshot(
      new Map([
        ["a", entry("a", ["users"])],
        ["b", entry("b", ["users"])],
      ]),
    );
    view.onSnapshot(new Map()); // an empty answer
    expect([...nodes.keys()]).toEqual(["a", "b"]);
    expect(warnings.filter((w) => w.includes("empty-push protection"))).toHaveLength(2);

    // b keeps answering, a goes silent: a is dropped at a re-check, b stays.
    for (let t = 0; t < LIVENESS + 2 * RECHECK; t += RECHECK) {
      heartbeat("b");
      vi.advanceTimersByTime(RECHECK);
    }
    expect([...nodes.keys()]).toEqual(["b"]);
    // Its entry comes back: held no more, and a later delete of it is judged afresh.
    view.onPut("b", entry("b", ["users"]));
    view.onPut("e", entry("e", ["users"]));
    view.onDelete("b");
    expect([...nodes.keys()]).toEqual(["e"]);
  });

  it("keeps a node the transporter lost out until it is heard from again", () => {
    const { view, nodes } = setup();
    view.onPut("a", entry("a", ["users"]));
    nodes.delete("a");
    view.lost("a", false);
    view.onSnapshot(new Map([["a", entry("a", ["users"])]])); // the registry still lists it
    expect(nodes.has("a")).toBe(false);
    view.heard("a", "a-1");
    expect(nodes.has("a")).toBe(true);
    // A new run of it joins at once.
    nodes.delete("a");
    view.lost("a", true);
    view.onPut("a", entry("a", ["users"], "a-2"));
    expect(nodes.get("a")?.instanceID).toBe("a-2");
  });

  it("lets a listed node join only once the transporter reaches it", () => {
    const { view, nodes, peers, unreachable } = setup();
    unreachable.add("a");
    view.onPut("a", entry("a", ["users"]));
    expect(nodes.has("a")).toBe(false);
    expect(peers.get("a")).toBe("127.0.0.1:4001"); // the transporter is told where to dial
    unreachable.delete("a");
    view.heard("a"); // its session came up
    expect(nodes.has("a")).toBe(true);
  });

  it("ignores entries that are not a node's: bad JSON, a wrong shape, another node's name", () => {
    const { view, nodes, warnings } = setup();
    view.onPut("a", "{not json");
    view.onPut("b", JSON.stringify({ sender: "b" }));
    view.onPut("c", entry("someone-else", ["users"]));
    view.onPut("d", Buffer.alloc(2 * 1024 * 1024, 32));
    expect(nodes.size).toBe(0);
    expect(warnings.filter((w) => w.startsWith("Ignoring a registry entry"))).toHaveLength(4);
    view.onPut("me", entry("me", ["users"], "other-run"));
    expect(nodes.size).toBe(0);
    expect(warnings.at(-1)).toContain("node IDs must be unique");
  });
});
