import { randomBytes } from "node:crypto";
import type { Options } from "amqplib";
import type { Logger } from "../../observability/logger.js";
import type { LocalListener } from "../../registry/local.js";
import type { ContextInit } from "../../service/types.js";
import { JSON_CONTENT_TYPE, readJson, toJson } from "./body.js";
import {
  decodeContext,
  encodeContext,
  META_KEY,
  type NamekoContext,
  newCallId,
  pushCallId,
} from "./context.js";
import { ack, type Consumer, type NamekoLink } from "./link.js";
import {
  bindingKey,
  eventExchangeName,
  eventQueueName,
  type HandlerKind,
  handlerMethod,
  splitEventName,
} from "./names.js";

/**
 * Events between nameko and Flotilla. nameko dispatches `<type>` to the topic exchange
 * `<source>.events`; a Flotilla handler of `<source>.<type>` gets a queue named and flagged as
 * a nameko `@event_handler` of its kind would (service pool, singleton, broadcast), and runs
 * like any other delivery. Flotilla's events from a published source go out the same way.
 */

/** Runs one listener with a context built from `init`; resolves with its error, if it failed. */
export type RunListener = (listener: LocalListener, init: ContextInit<unknown>) => Promise<unknown>;

/** nameko's default worker pool size, used as the prefetch of each handler queue. */
const PREFETCH = 10;

/** Queue flags per kind, as nameko declares them (broadcast: `reliable_delivery=False`). */
const QUEUE_FLAGS: Record<HandlerKind, Options.AssertQueue> = {
  balanced: { durable: true, autoDelete: false, exclusive: false },
  single: { durable: true, autoDelete: false, exclusive: false },
  broadcast: { durable: true, autoDelete: true, exclusive: true },
};

/** Subscribes Flotilla handlers to nameko events, and dispatches Flotilla events to nameko. */
export class EventBridge {
  readonly #consumers: Consumer[] = [];
  /** This node's nameko `broadcast_identifier`: new on every start, as nameko's default. */
  readonly #instance = randomBytes(16).toString("hex");

  constructor(
    private readonly link: NamekoLink,
    private readonly maxMessageSize: number,
    private readonly run: RunListener,
    private readonly logger: Logger,
  ) {}

  /** The queues this node consumes, for logs and tests. */
  get queues(): string[] {
    return this.#consumers.map((c) => c.queue);
  }

  /** Starts delivering `source`'s nameko events to `listener`. */
  async subscribe(listener: LocalListener): Promise<void> {
    const split = splitEventName(listener.event);
    if (split === undefined) return;
    const kind = listener.definition.kind ?? "balanced";
    const exchange = eventExchangeName(split.source);
    const name = eventQueueName({
      source: split.source,
      type: split.type,
      kind,
      // nameko names a broadcast queue after the service and tells instances apart by the id
      group: kind === "broadcast" ? serviceOf(listener) : listener.group,
      method: handlerMethod(split.type),
      instance: this.#instance,
    });
    const consumer = await this.link.consume(
      {
        name,
        exchange,
        bindings: [bindingKey(split.type)],
        options: QUEUE_FLAGS[kind],
        prefetch: PREFETCH,
      },
      (msg, channel) => {
        const event = `${split.source}.${msg.fields.routingKey}`;
        const body = readJson(msg, this.maxMessageSize);
        if (!body.ok) {
          this.logger.warn({ event, queue: name, reason: body.reason }, "nameko event dropped");
          ack(channel, msg);
          return;
        }
        const context = decodeContext(msg.properties.headers as Record<string, unknown>);
        const callId = newCallId(serviceOf(listener), handlerMethod(split.type));
        context.call_id_stack = pushCallId(context.call_id_stack, callId);
        const messageID = msg.properties.messageId;
        void this.run(listener, {
          name: event,
          params: body.value,
          meta: { [META_KEY]: context },
          service: listener.service,
          callerNodeID: "nameko",
          messageID: typeof messageID === "string" ? messageID : undefined,
          origin: { level: 1, caller: split.source },
        }).finally(() => ack(channel, msg));
      },
    );
    this.#consumers.push(consumer);
  }

  /** Dispatches a Flotilla event to nameko: `<type>` on the `<source>.events` exchange. */
  async dispatch(event: string, payload: unknown, context: NamekoContext): Promise<void> {
    const split = splitEventName(event);
    if (split === undefined) return;
    const exchange = eventExchangeName(split.source);
    const body = toJson(payload);
    if (body === undefined) throw new TypeError(`Payload of ${event} is not JSON`);
    await this.link.exchange(exchange);
    await this.link.publish(exchange, split.type, body, {
      contentType: JSON_CONTENT_TYPE,
      contentEncoding: "utf-8",
      deliveryMode: 2,
      headers: encodeContext(context),
    });
  }

  /** Stops taking events; those in hand still finish and are acked. */
  async stop(): Promise<void> {
    await Promise.all(this.#consumers.splice(0).map((c) => c.cancel()));
  }
}

/** The nameko `service_name` of a handler: its `group` if it names one, else its service. */
function serviceOf(listener: LocalListener): string {
  return listener.definition.group ?? listener.service.fullName;
}
