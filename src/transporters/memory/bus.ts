import type { TransporterContext } from "../transporter.js";
import { MemoryStreamStore } from "./streams.js";

/** What a fault filter decides for one message: `"drop"` it, delay it by N ms, or pass it. */
export type MemoryFilterVerdict = "drop" | number | undefined;

/** Decides the fate of each message on a {@link MemoryBus}, by sender, receiver and topic. */
export type MemoryFilter = (from: string, to: string, topic: string) => MemoryFilterVerdict;

/** One connected transporter on a bus. */
export interface Member {
  readonly nodeID: string;
  /** Members meet only members of their namespace, as separate clusters would. */
  readonly key: string;
  readonly context: TransporterContext;
  alive: boolean;
}

const scoped = (namespace: string, name: string): string => `${namespace}\u0000${name}`;

/** Who subscribed to one topic: plain subscribers, and groups served round-robin. */
interface TopicEntry {
  readonly plain: Set<Member>;
  readonly groups: Map<string, { readonly members: Member[]; next: number }>;
}

/** Deliveries held back by a delay on one sender → receiver link, kept in order. */
interface Link {
  readonly queue: { due: number; run: () => void }[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * An in-process message bus: every {@link MemoryTransporter} connected to the same bus reaches the
 * others of its namespace (namespaces on one bus are as separate as clusters). Buses are
 * independent, so a test that makes its own bus shares nothing with other tests. Delivery is
 * asynchronous (never inside the publisher's call) and in publish order per sender and receiver,
 * even when a filter delays some messages.
 *
 * @example
 * ```ts
 * const bus = new MemoryBus();
 * const a = createMemoryTransporter(bus);
 * const b = createMemoryTransporter(bus);
 * bus.setFilter((from, to) => (from === "a" && to === "b" ? "drop" : undefined)); // partition
 * bus.kill("b"); // b vanishes without a goodbye; a sees onPeerDown("b")
 * bus.setFilter((from, to, topic) => (topic.endsWith(".EVENT") ? 50 : undefined)); // 50 ms late
 * ```
 */
export class MemoryBus {
  private readonly members = new Map<string, Member>();
  private readonly topics = new Map<string, TopicEntry>();
  private readonly links = new Map<Member, Map<Member, Link>>();
  /** Durable streams per namespace: every node of the namespace on this bus shares them. */
  private readonly stores = new Map<string, MemoryStreamStore>();
  private filter: MemoryFilter | undefined;

  /** @param name For diagnostics; the buses of `memory://name` URLs carry their name. */
  constructor(readonly name = "private") {}

  /** The nodeIDs connected right now (of every namespace). */
  get nodeIDs(): string[] {
    return [...this.members.values()].map((m) => m.nodeID);
  }

  /**
   * Installs a fault filter consulted for every message (not for peer up/down notices); `undefined`
   * removes it. A delay keeps the order of the link: later messages wait behind a delayed one.
   */
  setFilter(filter: MemoryFilter | undefined): void {
    this.filter = filter;
  }

  /**
   * Removes a node abruptly, as a crash would: no goodbye, its delayed messages are lost, the
   * others see `onPeerDown`. Its transporter stays "connected" but talks into the void until it
   * disconnects. Without `namespace`, the node of that nodeID in every namespace dies. Returns
   * whether any node was killed.
   */
  kill(nodeID: string, namespace?: string): boolean {
    const victims = [...this.members.values()].filter(
      (m) =>
        m.nodeID === nodeID && (namespace === undefined || m.key === scoped(namespace, nodeID)),
    );
    for (const member of victims) this.crash(member);
    return victims.length > 0;
  }

  /** @internal The durable streams of `namespace` on this bus, made on first use. */
  streams(namespace: string): MemoryStreamStore {
    let store = this.stores.get(namespace);
    if (store === undefined) {
      store = new MemoryStreamStore();
      this.stores.set(namespace, store);
    }
    return store;
  }

  private crash(member: Member): void {
    this.remove(member);
    // What the dead node still had in flight is lost, and nothing more reaches it.
    for (const link of this.links.get(member)?.values() ?? []) clearTimeout(link.timer);
    this.links.delete(member);
    for (const links of this.links.values()) {
      clearTimeout(links.get(member)?.timer);
      links.delete(member);
    }
    for (const other of this.peersOf(member)) {
      queueMicrotask(() => other.alive && other.context.onPeerDown?.(member.nodeID));
    }
  }

  /**
   * @internal Used by {@link MemoryTransporter}. Each side hears `onPeerUp` of the other; a node
   * that joins again under the same nodeID replaces (and so takes down) its earlier self.
   */
  join(context: TransporterContext): Member {
    const key = scoped(context.namespace, context.nodeID);
    const previous = this.members.get(key);
    if (previous !== undefined) this.crash(previous);
    const member: Member = { nodeID: context.nodeID, key, context, alive: true };
    for (const other of this.peersOf(member)) {
      this.dispatch(member, other, 0, () => other.alive && other.context.onPeerUp?.(member.nodeID));
      this.dispatch(
        other,
        member,
        0,
        () => member.alive && member.context.onPeerUp?.(other.nodeID),
      );
    }
    this.members.set(key, member);
    return member;
  }

  /** @internal A graceful leave: the others hear of it after every message the node sent. */
  leave(member: Member): void {
    if (this.members.get(member.key) !== member) return;
    this.remove(member);
    for (const other of this.peersOf(member)) {
      this.dispatch(
        member,
        other,
        0,
        () => other.alive && other.context.onPeerDown?.(member.nodeID),
      );
    }
  }

  /** @internal */
  subscribe(member: Member, topic: string, group: string | undefined): void {
    const key = scoped(member.context.namespace, topic);
    let entry = this.topics.get(key);
    if (entry === undefined) {
      entry = { plain: new Set(), groups: new Map() };
      this.topics.set(key, entry);
    }
    if (group === undefined) {
      entry.plain.add(member);
      return;
    }
    const g = entry.groups.get(group) ?? { members: [], next: 0 };
    entry.groups.set(group, g);
    if (!g.members.includes(member)) g.members.push(member);
  }

  /** @internal Sends a copy of `data` to each plain subscriber and one member per group. */
  publish(from: Member, topic: string, data: Uint8Array): void {
    const entry = this.topics.get(scoped(from.context.namespace, topic));
    if (entry === undefined) return;
    for (const to of entry.plain) this.send(from, to, topic, data);
    for (const g of entry.groups.values()) {
      const to = g.members[g.next % g.members.length];
      g.next = (g.next + 1) % g.members.length;
      if (to) this.send(from, to, topic, data);
    }
  }

  private send(from: Member, to: Member, topic: string, data: Uint8Array): void {
    const verdict = this.filter?.(from.nodeID, to.nodeID, topic);
    if (verdict === "drop") return;
    // A copy per receiver: no receiver sees the sender's (or another receiver's) later writes.
    // `new Uint8Array(data)` copies even for a Buffer, whose `slice` would not.
    const copy = new Uint8Array(data);
    const delay = typeof verdict === "number" && verdict > 0 ? verdict : 0;
    this.dispatch(from, to, delay, () => {
      if (!to.alive) return;
      try {
        to.context.onMessage(topic, copy);
      } catch (err) {
        to.context.logger.error({ err, topic }, "onMessage threw; message dropped");
      }
    });
  }

  /** Runs `run` asynchronously after `delay` ms, behind anything still queued on the link. */
  private dispatch(from: Member, to: Member, delay: number, run: () => void): void {
    let links = this.links.get(from);
    const link = links?.get(to);
    if (link === undefined && delay === 0) {
      queueMicrotask(run);
      return;
    }
    if (links === undefined) {
      links = new Map();
      this.links.set(from, links);
    }
    const target = link ?? { queue: [], timer: undefined };
    links.set(to, target);
    const last = target.queue.at(-1)?.due ?? 0;
    target.queue.push({ due: Math.max(Date.now() + delay, last), run });
    if (target.timer === undefined) this.arm(from, to, target);
  }

  private arm(from: Member, to: Member, link: Link): void {
    const head = link.queue[0];
    if (head === undefined) {
      link.timer = undefined;
      const links = this.links.get(from);
      if (links?.get(to) === link) links.delete(to);
      if (links?.size === 0) this.links.delete(from);
      return;
    }
    link.timer = setTimeout(
      () => {
        const now = Date.now();
        while (link.queue[0] !== undefined && link.queue[0].due <= now) link.queue.shift()?.run();
        this.arm(from, to, link);
      },
      Math.max(0, head.due - Date.now()),
    );
    link.timer.unref();
  }

  private *peersOf(member: Member): Iterable<Member> {
    for (const other of this.members.values()) {
      if (other !== member && other.context.namespace === member.context.namespace) yield other;
    }
  }

  private remove(member: Member): void {
    member.alive = false;
    // Durable messages the node held unacknowledged go to another member of their group.
    this.stores.get(member.context.namespace)?.ownerGone(member);
    this.members.delete(member.key);
    for (const [key, entry] of this.topics) {
      entry.plain.delete(member);
      for (const [name, g] of entry.groups) {
        const i = g.members.indexOf(member);
        if (i >= 0) g.members.splice(i, 1);
        if (g.members.length === 0) entry.groups.delete(name);
      }
      if (entry.plain.size === 0 && entry.groups.size === 0) this.topics.delete(key);
    }
  }
}
