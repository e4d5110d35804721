import { randomUUID } from "node:crypto";
import { BadPacketError, DurablePublishError, FlotillaError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { LocalListener } from "../../registry/local.js";
import type { Serializer } from "../../serializers/index.js";
import type { EventEnvelope } from "../../service/call-types.js";
import type { ContextInit } from "../../service/types.js";
// The wire format is the codec's, not the engine's: a durable message is the EVENT packet any node
// (and `flotilla dlq show`) decodes. Importing the two pure functions, rather than taking
// encode/decode as dependencies, keeps one format for every backend: injected functions are how
// the two engines before this one came to store different things in `DeadLetter.data`.
import { decodePacket, encodePacket } from "../../transit/codec.js";
import { checkPacketSize } from "../../transit/core.js";
import { type EventPacket, PacketType } from "../../transit/packets.js";
import type {
  DeadLetterInfo,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "../../transporters/durable.js";
import { deliveryInit } from "../delivery.js";
import { type DeadLetters, type DeadLetterTally, deadLettersOf } from "./dead-letters.js";
import { DURABLE_CONCURRENCY, outcome } from "./policy.js";

/** What the engine needs: identity, the wire format, the streams, and a way to run a handler. */
export interface DurableEngineDeps {
  readonly nodeID: string;
  readonly serializer: Serializer;
  readonly logger: Logger;
  /** The broker's `maxPacketSize`: a larger event is refused before it reaches the streams. */
  readonly maxPacketSize: number;
  readonly streams: DurableStreams;
  /**
   * The streams reach every node of the namespace (a message broker, the memory bus): an emit
   * publishes once for all durable handlers of the cluster. When false they feed this node's
   * handlers only (tcp://, no transporter): events travel as usual, and each delivery to a local
   * durable handler goes through them (`enqueue`).
   */
  readonly shared: boolean;
  /** Runs one handler; resolves with what it threw (`undefined` on success), never rejects. */
  deliver(listener: LocalListener, init: ContextInit<unknown>): Promise<unknown>;
  /** Called by `close()`: releases what only this node holds (a private stream store). */
  release?(): void;
}

/**
 * Durable events, whatever keeps them: publishes an event as an EVENT packet to its stream
 * (resolving once the streams confirmed it), and feeds each local durable handler from its
 * group — decode, deliver, then ack, retry with backoff, or dead-letter (see `outcome`).
 *
 * @example
 * ```ts
 * const engine = new DurableEngine({ nodeID, serializer, logger, streams, shared: true, deliver });
 * await engine.start(durableListeners);
 * await engine.publish("orders.placed", { id: 7 }, undefined);
 * ```
 */
export class DurableEngine {
  readonly #subscriptions: DurableSubscription[] = [];
  readonly #started = new Set<LocalListener>();
  /** Dead letters waiting as this node counts them (see `DeadLetters.backlog`). */
  readonly #tally: DeadLetterTally = { count: 0 };
  /**
   * Node-local deliveries in hand, per listener and message ID, with who waits for their end: a
   * sender that gave up waiting and sends the same message again joins the first delivery.
   */
  readonly #inHand = new Map<LocalListener, Map<string, (() => void)[]>>();

  constructor(private readonly deps: DurableEngineDeps) {}

  get shared(): boolean {
    return this.deps.shared;
  }

  /** Dead letters of these streams (`data`: the encoded event packet). */
  get deadLetters(): DeadLetters {
    return deadLettersOf(this.deps.streams, this.#tally);
  }

  /** Whether events and dead letters survive a crash of this process. */
  get persistent(): boolean {
    return this.deps.streams.persistent ?? true;
  }

  /** Starts consuming for the durable ones among `listeners` (each once). */
  async start(listeners: readonly LocalListener[]): Promise<void> {
    for (const listener of listeners) {
      if (listener.definition.durable !== true || this.#started.has(listener)) continue;
      this.#started.add(listener);
      const def = listener.definition;
      const subscription = await this.deps.streams.consume(
        listener.event,
        {
          group: listener.group,
          concurrency: def.concurrency ?? DURABLE_CONCURRENCY,
          perInstance: def.kind === "broadcast",
        },
        (message) => void this.#handle(listener, message),
      );
      this.#subscriptions.push(subscription);
    }
  }

  /** Stops taking new messages (graceful stop); those in hand still finish and are settled. */
  async stop(): Promise<void> {
    this.#started.clear();
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.close()));
  }

  /** Drops what only this node holds, as a crash or the end of a stop does. */
  close(): void {
    this.#started.clear();
    this.#inHand.clear();
    this.#subscriptions.length = 0;
    this.deps.release?.();
  }

  /**
   * Publishes an event durably; resolves once the streams have it. Rejects with
   * `DURABLE_PUBLISH_FAILED`, retryable unless what failed says otherwise.
   */
  async publish(event: EventEnvelope, messageID = randomUUID()): Promise<void> {
    const packet = {
      sender: this.deps.nodeID,
      ...event,
      groups: null,
      broadcast: false,
      messageID,
    };
    await this.#publish(event.event, messageID, packet);
  }

  /**
   * One delivery to a local durable handler, through node-local streams: it gets a message ID
   * and the handler's retries and dead letter. Resolves once the delivery is settled (handled,
   * or dead-lettered); a message with the same ID still in hand is not enqueued twice. Failures
   * to enqueue are logged, and reject.
   */
  enqueue(listener: LocalListener, init: ContextInit<unknown>): Promise<void> {
    const parent = init.parent;
    const messageID = init.messageID ?? randomUUID();
    let inHand = this.#inHand.get(listener);
    if (inHand === undefined) {
      inHand = new Map();
      this.#inHand.set(listener, inHand);
    }
    const waiting = inHand.get(messageID);
    if (waiting !== undefined) return new Promise((resolve) => waiting.push(resolve));
    const waiters: (() => void)[] = [];
    inHand.set(messageID, waiters);
    const settled = new Promise<void>((resolve) => waiters.push(resolve));
    const packet: EventPacket = {
      sender: init.callerNodeID ?? this.deps.nodeID,
      event: init.name,
      payload: init.params,
      meta: parent === undefined ? (init.meta ?? {}) : { ...parent.meta, ...init.meta },
      requestID: init.requestID ?? parent?.requestID ?? randomUUID(),
      parentID: init.origin?.parentID ?? parent?.id,
      level: init.origin?.level ?? (parent?.level ?? 0) + 1,
      caller: init.origin?.caller ?? parent?.service?.fullName,
      headers: init.headers,
      // Only this handler's group takes it: the event was routed to it already.
      groups: [listener.group],
      broadcast: false,
      messageID,
    };
    return this.#publish(init.name, messageID, packet).then(
      () => settled,
      (err: unknown) => {
        inHand.delete(messageID);
        this.deps.logger.error(
          { err, event: init.name, group: listener.group },
          "Could not hand an event to its durable handler",
        );
        throw err;
      },
    );
  }

  /** A node-local delivery ended: whoever waits for it hears so. */
  #settled(listener: LocalListener, messageID: string): void {
    const inHand = this.#inHand.get(listener);
    const waiters = inHand?.get(messageID);
    if (waiters === undefined) return;
    inHand?.delete(messageID);
    for (const resolve of waiters) resolve();
  }

  async #publish(event: string, messageID: string, packet: EventPacket): Promise<void> {
    const bytes = encodePacket(this.deps.serializer, PacketType.EVENT, packet);
    const tooLarge = checkPacketSize(bytes, this.deps.maxPacketSize);
    if (tooLarge !== undefined) throw tooLarge;
    try {
      await this.deps.streams.publish(event, messageID, bytes);
    } catch (cause) {
      // Retryable unless what failed says otherwise (a message too large stays too large).
      const retryable = !(cause instanceof FlotillaError) || cause.retryable;
      throw new DurablePublishError(
        `Durable event '${event}' was not taken by the message broker: ${(cause as Error).message}`,
        { retryable, cause, data: { event, messageID } },
      );
    }
  }

  async #handle(listener: LocalListener, message: DurableMessage): Promise<void> {
    try {
      const body = await this.#decode(listener, message);
      if (body === undefined) return this.#settled(listener, message.id);
      // A message for other groups of the stream (a targeted delivery, a replay): not ours.
      if (body.groups !== null && !body.groups.includes(listener.group)) return await message.ack();
      const error = await this.deps.deliver(listener, {
        ...deliveryInit(body, listener.service),
        messageID: message.id,
        attempt: message.attempt,
      });
      const next = outcome(listener.definition, message.attempt, error);
      if (next.kind === "retry") return await message.retry(next.delay);
      if (next.kind === "ack") {
        await message.ack();
        return this.#settled(listener, message.id);
      }
      this.deps.logger.warn(
        {
          event: listener.event,
          group: listener.group,
          messageID: message.id,
          attempts: message.attempt,
        },
        "Event dead-lettered",
      );
      await message.deadLetter(this.#info(listener, message, next.code, next.message));
      this.#tally.count++;
      this.#settled(listener, message.id);
    } catch (err) {
      this.deps.logger.error(
        { err, event: listener.event, messageID: message.id },
        "Could not settle a durable message",
      );
    }
  }

  /** The event in a message; one that can never be handled becomes a dead letter at once. */
  async #decode(
    listener: LocalListener,
    message: DurableMessage,
  ): Promise<EventPacket | undefined> {
    try {
      const packet = decodePacket(this.deps.serializer, message.data);
      if (packet.type === PacketType.EVENT) return packet.body;
      throw new BadPacketError(`Packet of type ${packet.type} is not an event`, "type");
    } catch (err) {
      const text = (err as Error).message;
      await message.deadLetter(this.#info(listener, message, "BAD_PACKET", text));
      this.#tally.count++;
      return undefined;
    }
  }

  #info(
    listener: LocalListener,
    message: DurableMessage,
    code: string,
    text: string,
  ): DeadLetterInfo {
    return {
      group: listener.group,
      code,
      message: text,
      attempts: message.attempt,
      failedAt: Date.now(),
      nodeID: this.deps.nodeID,
    };
  }
}
