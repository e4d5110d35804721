import { TransporterNotConnectedError } from "../../errors/index.js";
import type {
  DeadLetter,
  DeadLetterInfo,
  DurableConsumeOptions,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "../durable.js";

/** A message as one group holds it; its delivery count goes with it across redeliveries. */
interface Entry {
  readonly id: string;
  readonly stream: string;
  readonly data: Uint8Array;
  deliveries: number;
}

/** One member of a group: who holds it (a bus member, a node), and what it has in hand. */
interface Consumer {
  readonly owner: object;
  readonly concurrency: number;
  readonly handler: (message: DurableMessage) => void;
  readonly held: Set<Delivery>;
  open: boolean;
}

interface Delivery {
  readonly entry: Entry;
  readonly consumer: Consumer;
  readonly group: Group;
}

/** A consumer group of one stream: its queue, its members (served in turn), its retry timers. */
interface Group {
  readonly name: string;
  readonly perInstance: boolean;
  readonly ready: Entry[];
  readonly consumers: Consumer[];
  readonly timers: Set<NodeJS.Timeout>;
  next: number;
  scheduled: boolean;
}

/** Bounds of one store: a publisher cannot grow it without limit. */
export interface MemoryStreamLimits {
  /** Messages one group may hold (waiting, not in hand); a publish beyond it is refused. */
  messages: number;
  /** Dead letters kept; the oldest goes first. */
  deadLetters: number;
}

/**
 * Durable streams kept in this process, with the semantics of the brokers' (RabbitMQ, JetStream,
 * Redis Streams): each consumer group gets every message once and its members share them; a
 * message is settled by ack, retry (redelivered after a delay, to any member) or dead letter; what
 * a member held when it died goes to another member; a group outlives its members (messages wait
 * for the next one) except a per-instance group, which goes with its last member. Delivery is
 * asynchronous, never inside the publisher's call. Nothing survives the process.
 */
export class MemoryStreamStore {
  readonly #streams = new Map<string, Map<string, Group>>();
  /** Keyed by group and message ID: two groups may dead-letter the same message. */
  readonly #dead = new Map<string, DeadLetter>();

  constructor(
    private readonly limits: MemoryStreamLimits = { messages: 100_000, deadLetters: 10_000 },
  ) {}

  /** Appends to every group of `stream`; throws when no group reads it or one is full. */
  publish(stream: string, id: string, data: Uint8Array): void {
    const groups = [...(this.#streams.get(stream)?.values() ?? [])];
    if (groups.length === 0) throw new Error(`no consumer group reads '${stream}'`);
    const full = groups.find((g) => g.ready.length >= this.limits.messages);
    if (full !== undefined) {
      throw new Error(`group '${full.name}' of '${stream}' holds ${this.limits.messages} messages`);
    }
    // One copy for all groups: no one writes into it after this.
    const copy = new Uint8Array(data);
    for (const group of groups) {
      group.ready.push({ id, stream, data: copy, deliveries: 0 });
      this.#schedule(group);
    }
  }

  /** Adds a member to a group of `stream` (made on first use), owned by `owner`. */
  consume(
    owner: object,
    stream: string,
    options: DurableConsumeOptions,
    handler: (message: DurableMessage) => void,
  ): DurableSubscription {
    const group = this.#group(stream, options.group, options.perInstance === true);
    const consumer: Consumer = {
      owner,
      concurrency: Math.max(1, options.concurrency),
      handler,
      held: new Set(),
      open: true,
    };
    group.consumers.push(consumer);
    this.#schedule(group);
    // Closing stops new deliveries; what is in hand may still be acked.
    return { close: async () => this.#leave(stream, group, consumer) };
  }

  /** `owner` died or disconnected: its members leave, and what they held is delivered again. */
  ownerGone(owner: object): void {
    for (const [stream, groups] of this.#streams) {
      for (const group of [...groups.values()]) {
        for (const consumer of group.consumers.filter((c) => c.owner === owner)) {
          const held = [...consumer.held].map((d) => d.entry);
          consumer.held.clear();
          group.ready.unshift(...held);
          this.#leave(stream, group, consumer);
        }
      }
    }
  }

  /** Dead letters, oldest first. */
  deadLetters(): DeadLetter[] {
    return [...this.#dead.values()];
  }

  /** Hands a dead letter back to the group that gave up on it (same ID, attempt 1 again). */
  replay(id: string): boolean {
    for (const [key, letter] of this.#dead) {
      if (letter.id !== id) continue;
      this.#dead.delete(key);
      const group = this.#group(letter.stream, letter.info.group, false);
      group.ready.push({ id, stream: letter.stream, data: letter.data, deliveries: 0 });
      this.#schedule(group);
      return true;
    }
    return false;
  }

  /** Drops everything (retry timers included): the process that held it is gone. */
  close(): void {
    for (const groups of this.#streams.values()) {
      for (const group of groups.values()) this.#discard(group);
    }
    this.#streams.clear();
    this.#dead.clear();
  }

  #group(stream: string, name: string, perInstance: boolean): Group {
    let groups = this.#streams.get(stream);
    if (groups === undefined) {
      groups = new Map();
      this.#streams.set(stream, groups);
    }
    let group = groups.get(name);
    if (group === undefined) {
      group = {
        name,
        perInstance,
        ready: [],
        consumers: [],
        timers: new Set(),
        next: 0,
        scheduled: false,
      };
      groups.set(name, group);
    }
    return group;
  }

  #leave(stream: string, group: Group, consumer: Consumer): void {
    consumer.open = false;
    const i = group.consumers.indexOf(consumer);
    if (i >= 0) group.consumers.splice(i, 1);
    if (group.perInstance && group.consumers.length === 0) {
      this.#discard(group);
      const groups = this.#streams.get(stream);
      if (groups?.get(group.name) === group) groups.delete(group.name);
      if (groups?.size === 0) this.#streams.delete(stream);
    } else {
      this.#schedule(group);
    }
  }

  #discard(group: Group): void {
    for (const timer of group.timers) clearTimeout(timer);
    group.timers.clear();
    group.ready.length = 0;
    for (const consumer of group.consumers) consumer.open = false;
  }

  #schedule(group: Group): void {
    if (group.scheduled) return;
    group.scheduled = true;
    queueMicrotask(() => {
      group.scheduled = false;
      this.#pump(group);
    });
  }

  /** Hands waiting messages to members with room, in turn. */
  #pump(group: Group): void {
    while (group.ready.length > 0) {
      const consumer = this.#pick(group);
      if (consumer === undefined) return;
      const entry = group.ready.shift() as Entry;
      entry.deliveries += 1;
      const delivery: Delivery = { entry, consumer, group };
      consumer.held.add(delivery);
      consumer.handler(this.#message(delivery));
    }
  }

  #pick(group: Group): Consumer | undefined {
    const { consumers } = group;
    for (let k = 0; k < consumers.length; k++) {
      const consumer = consumers[(group.next + k) % consumers.length] as Consumer;
      if (consumer.open && consumer.held.size < consumer.concurrency) {
        group.next = (group.next + k + 1) % consumers.length;
        return consumer;
      }
    }
    return undefined;
  }

  #message(delivery: Delivery): DurableMessage {
    const { entry, group } = delivery;
    return {
      id: entry.id,
      data: entry.data,
      attempt: entry.deliveries,
      ack: async () => void this.#settle(delivery),
      retry: async (delay) => {
        if (!this.#settle(delivery)) return;
        const timer = setTimeout(() => {
          group.timers.delete(timer);
          group.ready.push(entry);
          this.#schedule(group);
        }, delay);
        timer.unref?.();
        group.timers.add(timer);
      },
      deadLetter: async (info) => {
        if (this.#settle(delivery)) this.#bury(entry, info);
      },
    };
  }

  /** Ends a delivery; false when it no longer counts (its member died, it was settled). */
  #settle(delivery: Delivery): boolean {
    if (!delivery.consumer.held.delete(delivery)) return false;
    this.#schedule(delivery.group);
    return true;
  }

  #bury(entry: Entry, info: DeadLetterInfo): void {
    const key = `${info.group}\u0000${entry.id}`;
    this.#dead.delete(key);
    if (this.#dead.size >= this.limits.deadLetters) {
      const oldest = this.#dead.keys().next().value;
      if (oldest !== undefined) this.#dead.delete(oldest);
    }
    this.#dead.set(key, { id: entry.id, stream: entry.stream, data: entry.data, info });
  }
}

/**
 * One holder's view of a {@link MemoryStreamStore}, as `DurableStreams`: its members belong to
 * whoever `owner()` names right now (a bus member while connected), so they go when it dies.
 */
export class MemoryStreams implements DurableStreams {
  readonly persistent = false;

  constructor(
    private readonly store: MemoryStreamStore,
    private readonly owner: () => object | undefined,
  ) {}

  async publish(stream: string, id: string, data: Uint8Array): Promise<void> {
    this.#owner();
    this.store.publish(stream, id, data);
  }

  async consume(
    stream: string,
    options: DurableConsumeOptions,
    handler: (message: DurableMessage) => void,
  ): Promise<DurableSubscription> {
    return this.store.consume(this.#owner(), stream, options, handler);
  }

  async listDeadLetters(): Promise<DeadLetter[]> {
    return this.store.deadLetters();
  }

  async replayDeadLetter(id: string): Promise<boolean> {
    return this.store.replay(id);
  }

  #owner(): object {
    const owner = this.owner();
    if (owner === undefined) {
      throw new TransporterNotConnectedError("The memory transporter is not connected.");
    }
    return owner;
  }
}

/**
 * Durable streams of one node alone, for a transporter that cannot persist or share them
 * (tcp://, or none): its durable handlers still get retries with backoff and dead letters, in
 * this process. `close()` drops them with the node.
 *
 * @example
 * ```ts
 * const { streams, close } = privateDurableStreams();
 * await streams.consume("orders.placed", { group: "mailer", concurrency: 10 }, onMessage);
 * ```
 */
export function privateDurableStreams(): { streams: MemoryStreams; close: () => void } {
  const store = new MemoryStreamStore();
  const owner = {};
  return { streams: new MemoryStreams(store, () => owner), close: () => store.close() };
}
