import { randomUUID } from "node:crypto";
import type { Emitter } from "../broker/emitter.js";
import type { EmitOptions } from "../broker/options.js";
import { FlotillaError } from "../errors/index.js";
import { DURABLE_BACKOFF } from "../events/durable-fallback.js";
import { backoffDelay } from "../middleware/resilience/backoff.js";
import type { LocalListener } from "../registry/local.js";
import type { Service } from "../service/service.js";
import type {
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "../transporters/durable.js";
import { decodePacket, encodePacket } from "./codec.js";
import type { TransitCore } from "./core.js";
import { type EventPacket, PacketType } from "./packets.js";

/**
 * Durable events on a transporter that persists: publishes them to the event's stream (resolving
 * once the server confirmed), and feeds each local durable listener from its group's persistent
 * subscription — acknowledging after the handler succeeded, asking for a delayed redelivery after
 * a failure, and dead-lettering once the retries are used up.
 */
export class DurableEvents {
  readonly #subscriptions: DurableSubscription[] = [];

  constructor(
    private readonly core: TransitCore,
    readonly streams: DurableStreams,
    private readonly emitter: Emitter,
  ) {}

  /** Starts consuming for the durable listeners of a service that just started. */
  async serviceStarted(service: Service): Promise<void> {
    const listeners = this.core.registry.listeners.filter(
      (l) => l.service === service && l.definition.durable === true,
    );
    for (const listener of listeners) {
      const subscription = await this.streams.consume(
        listener.event,
        {
          group: listener.group,
          concurrency: listener.definition.concurrency ?? 10,
          perInstance: listener.definition.kind === "broadcast",
        },
        (message) => void this.#handle(listener, message),
      );
      this.#subscriptions.push(subscription);
    }
  }

  /** Stops taking new messages (graceful stop); those in hand still finish and are acked. */
  async stopConsuming(): Promise<void> {
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.close()));
  }

  /** Publishes an event durably; resolves once the server has it. */
  async publish(event: string, payload: unknown, opts: EmitOptions | undefined): Promise<void> {
    const parent = opts?.parentCtx;
    const messageID = opts?.messageID ?? randomUUID();
    const bytes = encodePacket(this.core.serializer, PacketType.EVENT, {
      sender: this.core.nodeID,
      event,
      payload,
      meta: parent === undefined ? (opts?.meta ?? {}) : { ...parent.meta, ...opts?.meta },
      requestID: parent?.requestID ?? randomUUID(),
      parentID: parent?.id,
      level: (parent?.level ?? 0) + 1,
      caller: parent?.service?.fullName,
      groups: null,
      broadcast: false,
      messageID,
    });
    try {
      await this.streams.publish(event, messageID, bytes);
    } catch (cause) {
      // Retryable unless what failed says otherwise (a message too large stays too large).
      const retryable = !(cause instanceof FlotillaError) || cause.retryable;
      throw new FlotillaError(
        `Durable event '${event}' was not taken by the message broker: ${(cause as Error).message}`,
        "DURABLE_PUBLISH_FAILED",
        503,
        { retryable, cause, data: { event, messageID } },
      );
    }
  }

  /** The event in a message; one that can never be handled becomes a dead letter at once. */
  async #decode(
    listener: LocalListener,
    message: DurableMessage,
  ): Promise<EventPacket | undefined> {
    try {
      const packet = decodePacket(this.core.serializer, message.data);
      if (packet.type === PacketType.EVENT) return packet.body;
      throw new FlotillaError("Not an event packet", "BAD_PACKET", 400);
    } catch (err) {
      await message.deadLetter({
        group: listener.group,
        code: "BAD_PACKET",
        message: (err as Error).message,
        attempts: message.attempt,
        failedAt: Date.now(),
        nodeID: this.core.nodeID,
      });
      return undefined;
    }
  }

  async #handle(listener: LocalListener, message: DurableMessage): Promise<void> {
    const def = listener.definition;
    try {
      const body = await this.#decode(listener, message);
      if (body === undefined) return;
      const error = await this.emitter.run(listener, {
        name: body.event,
        params: body.payload,
        meta: body.meta ?? {},
        requestID: body.requestID,
        callerNodeID: body.sender,
        headers: body.headers,
        origin: { level: body.level, parentID: body.parentID, caller: body.caller },
        service: listener.service,
        messageID: message.id,
        attempt: message.attempt,
      });
      if (error === undefined) return await message.ack();
      if (message.attempt <= (def.maxRetries ?? 5)) {
        return await message.retry(
          backoffDelay(message.attempt - 1, def.backoff ?? DURABLE_BACKOFF),
        );
      }
      if (def.deadLetter === false) return await message.ack();
      const { code, message: text } =
        error instanceof FlotillaError
          ? error
          : { code: "INTERNAL_ERROR", message: String((error as Error)?.message ?? error) };
      this.core.logger.warn(
        {
          event: listener.event,
          group: listener.group,
          messageID: message.id,
          attempts: message.attempt,
        },
        "Event dead-lettered",
      );
      await message.deadLetter({
        group: listener.group,
        code,
        message: text,
        attempts: message.attempt,
        failedAt: Date.now(),
        nodeID: this.core.nodeID,
      });
    } catch (err) {
      this.core.logger.error(
        { err, event: listener.event, messageID: message.id },
        "Could not settle a durable message",
      );
    }
  }
}
