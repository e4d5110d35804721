import { FlotillaError } from "../errors/index.js";
import type { Transporter, TransporterCapabilities, TransporterContext } from "./transporter.js";

/** What a fault filter decides for one message: `"drop"` it, delay it by N ms, or pass it. */
export type MemoryFilterVerdict = "drop" | number | undefined;

/** Decides the fate of each message on a {@link MemoryBus}, by sender, receiver and topic. */
export type MemoryFilter = (from: string, to: string, topic: string) => MemoryFilterVerdict;

/** One connected transporter on a bus. */
interface Member {
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

/**
 * A transporter on a {@link MemoryBus}. Subscriptions are kept across reconnects.
 * Capabilities: balancing (groups, round-robin), peer-aware, not durable.
 */
export class MemoryTransporter implements Transporter {
  readonly capabilities: TransporterCapabilities = {
    balancing: true,
    durable: false,
    peerAware: true,
  };
  private member: Member | undefined;
  private readonly subscriptions = new Map<string, { topic: string; group: string | undefined }>();

  constructor(readonly bus: MemoryBus) {}

  async connect(context: TransporterContext): Promise<void> {
    if (this.member !== undefined) throw new Error("MemoryTransporter is already connected.");
    const member = this.bus.join(context);
    this.member = member;
    for (const { topic, group } of this.subscriptions.values()) {
      this.bus.subscribe(member, topic, group);
    }
  }

  async disconnect(): Promise<void> {
    const member = this.member;
    this.member = undefined;
    if (member !== undefined) this.bus.leave(member);
  }

  /** Vanishes as a crashed node would: what it had in flight is lost, no goodbye. */
  async kill(): Promise<void> {
    const member = this.member;
    this.member = undefined;
    if (member !== undefined) this.bus.kill(member.nodeID, member.context.namespace);
  }

  async subscribe(topic: string, group?: string): Promise<void> {
    this.subscriptions.set(`${group ?? ""}\u0000${topic}`, { topic, group });
    if (this.member?.alive) this.bus.subscribe(this.member, topic, group);
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    const member = this.member;
    if (member === undefined) {
      throw new FlotillaError(
        "The memory transporter is not connected.",
        "TRANSPORTER_NOT_CONNECTED",
        503,
        {
          retryable: true,
        },
      );
    }
    // A killed node talks into the void, like a crashed process would.
    if (member.alive) this.bus.publish(member, topic, data);
  }
}

/**
 * Makes a transporter on `bus`. Prefer one `new MemoryBus()` per test: nothing leaks between tests.
 *
 * @example
 * ```ts
 * const bus = new MemoryBus();
 * const t = createMemoryTransporter(bus);
 * await t.connect({ nodeID: "n1", namespace: "", logger, onMessage: (topic, data) => {} });
 * ```
 */
export function createMemoryTransporter(bus: MemoryBus): MemoryTransporter {
  return new MemoryTransporter(bus);
}

/** Named buses for the `memory://name` URL form; `memory://` is the process-wide default bus. */
export class MemoryBusRegistry {
  private readonly buses = new Map<string, MemoryBus>();

  /** The bus called `name` (`""` is `"default"`), created on first use. */
  get(name: string): MemoryBus {
    const key = name === "" ? "default" : name;
    let bus = this.buses.get(key);
    if (bus === undefined) {
      bus = new MemoryBus(key);
      this.buses.set(key, bus);
    }
    return bus;
  }

  /** Forgets a named bus; transporters already on it keep it. */
  delete(name: string): boolean {
    return this.buses.delete(name === "" ? "default" : name);
  }
}

/**
 * The buses behind `memory://` URLs. This is the only process-wide state of the memory
 * transporter; tests that need isolation use their own {@link MemoryBus}.
 *
 * @example
 * ```ts
 * memoryBuses.get("bus-a").kill("n2"); // the bus that `memory://bus-a` transporters share
 * ```
 */
export const memoryBuses = new MemoryBusRegistry();

/**
 * The `memory://` factory: `memory://` joins the default bus, `memory://bus-a` the bus "bus-a".
 *
 * @example
 * ```ts
 * const t = memoryTransporterFromUrl(new URL("memory://bus-a"));
 * ```
 */
export function memoryTransporterFromUrl(url: URL): MemoryTransporter {
  const extra = [...url.searchParams.keys()];
  if (extra.length > 0 || (url.pathname !== "" && url.pathname !== "/")) {
    throw new FlotillaError(
      `The memory transporter takes no options or path: '${url.href}'. Use memory://<bus-name>.`,
      "INVALID_TRANSPORTER_URL",
      500,
      { data: { url: url.href } },
    );
  }
  return createMemoryTransporter(memoryBuses.get(decodeURIComponent(url.host)));
}
