import { TransporterNotConnectedError } from "../../errors/index.js";
import type { DurableStreams } from "../durable.js";
import type { Transporter, TransporterCapabilities, TransporterContext } from "../transporter.js";
import type { Member, MemoryBus } from "./bus.js";
import { MemoryStreams } from "./streams.js";

/**
 * A transporter on a {@link MemoryBus}. Subscriptions are kept across reconnects.
 * Capabilities: balancing (groups, round-robin), peer-aware, durable: durable streams live on the
 * bus (one store per namespace, shared by its nodes as a message broker's are), in this process.
 */
export class MemoryTransporter implements Transporter {
  readonly capabilities: TransporterCapabilities = {
    balancing: true,
    durable: true,
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
      throw new TransporterNotConnectedError("The memory transporter is not connected.");
    }
    // A killed node talks into the void, like a crashed process would.
    if (member.alive) this.bus.publish(member, topic, data);
  }

  /**
   * The durable streams of `namespace` on this bus. Consumers belong to this transporter's
   * connection: when it dies or disconnects, what they held goes to another member.
   */
  durableStreams(namespace: string): DurableStreams {
    return new MemoryStreams(this.bus.streams(namespace), () =>
      this.member?.alive ? this.member : undefined,
    );
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
