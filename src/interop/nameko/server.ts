import type { Channel, ConsumeMessage } from "amqplib";
import { PacketTooLargeError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import { asRequest, JSON_CONTENT_TYPE, readJson, toJson } from "./body.js";
import { decodeContext, type NamekoContext, newCallId, pushCallId } from "./context.js";
import {
  type NamekoWireError,
  requestError,
  toNamekoError,
  unserializableError,
} from "./errors.js";
import { ack, type Consumer, type NamekoLink } from "./link.js";
import { rpcQueueName } from "./names.js";

/**
 * Calls from nameko to Flotilla services: each exposed service consumes `rpc-<service>` (durable,
 * bound `<service>.*`, declared exactly as nameko's `RpcConsumer` does, so a nameko service of
 * the same name may share it while you migrate), runs the action with the kwargs as params and
 * answers on the RPC exchange to `reply_to` with the request's `correlation_id`.
 */

/** The local side of incoming calls, as the bridge gives it. */
export interface RpcHost {
  /** Whether `action` is a local action that callers outside this node may call. */
  has(action: string): boolean;
  /** Runs the action with this nameko context data as `meta.nameko`. */
  call(action: string, params: Record<string, unknown>, context: NamekoContext): Promise<unknown>;
}

/** nameko's default worker pool size, used as the prefetch of each service queue. */
const PREFETCH = 10;

/** Serves nameko's calls to exposed services. */
export class RpcServer {
  readonly #consumers: Consumer[] = [];
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(
    private readonly link: NamekoLink,
    private readonly exchange: string,
    private readonly maxMessageSize: number,
    private readonly host: RpcHost,
    private readonly logger: Logger,
  ) {}

  /** Calls being served now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Starts serving `service`'s queue. */
  async expose(service: string): Promise<void> {
    const consumer = await this.link.consume(
      {
        name: rpcQueueName(service),
        exchange: this.exchange,
        bindings: [`${service}.*`],
        options: { durable: true, autoDelete: false, exclusive: false },
        prefetch: PREFETCH,
      },
      (msg, channel) => {
        this.#inFlight++;
        void this.#serve(service, msg, channel).finally(() => {
          this.#inFlight--;
          if (this.#inFlight === 0) for (const wake of this.#idle.splice(0)) wake();
        });
      },
    );
    this.#consumers.push(consumer);
  }

  /** Takes no more requests; those in hand still get their replies. */
  async stopConsuming(): Promise<void> {
    await Promise.all(this.#consumers.splice(0).map((c) => c.cancel()));
  }

  /** Resolves when no call is being served, or after `timeout` ms. */
  drain(timeout: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeout);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #serve(service: string, msg: ConsumeMessage, channel: Channel): Promise<void> {
    const { replyTo, correlationId } = msg.properties;
    const routingKey = msg.fields.routingKey;
    if (typeof replyTo !== "string" || replyTo === "") {
      this.logger.warn({ routingKey, correlationId }, "nameko request without reply_to dropped");
      ack(channel, msg);
      return;
    }
    const { result, error } = await this.#answer(service, msg);
    let body = toJson({ result, error });
    if (body === undefined)
      body = toJson({ result: null, error: unserializableError(String(result)) });
    if (body !== undefined && body.length > this.maxMessageSize) {
      body = toJson({
        result: null,
        error: toNamekoError(new PacketTooLargeError(body.length, this.maxMessageSize)),
      });
    }
    try {
      await this.link.publish(this.exchange, replyTo, body ?? Buffer.from("null"), {
        correlationId,
        contentType: JSON_CONTENT_TYPE,
        contentEncoding: "utf-8",
        deliveryMode: 2,
      });
    } catch (err) {
      this.logger.error({ err, routingKey }, "nameko reply could not be sent");
    }
    ack(channel, msg);
  }

  /** The reply's `result` and `error` for one request. */
  async #answer(
    service: string,
    msg: ConsumeMessage,
  ): Promise<{ result: unknown; error: NamekoWireError | null }> {
    const method = msg.fields.routingKey.slice(service.length + 1);
    const parsed = readJson(msg, this.maxMessageSize);
    const request = parsed.ok ? asRequest(parsed.value) : parsed;
    if (!request.ok)
      return { result: null, error: requestError("MalformedRequest", request.reason) };
    const action = `${service}.${method}`;
    if (!this.host.has(action))
      return { result: null, error: requestError("MethodNotFound", method) };
    const { args, kwargs } = request.value;
    if (args.length > 0) {
      const text = `${method}() takes keyword arguments only (${args.length} positional given)`;
      return { result: null, error: requestError("IncorrectSignature", text) };
    }
    const context = decodeContext(msg.properties.headers as Record<string, unknown> | undefined);
    context.call_id_stack = pushCallId(context.call_id_stack, newCallId(service, method));
    try {
      return { result: (await this.host.call(action, kwargs, context)) ?? null, error: null };
    } catch (err) {
      return { result: null, error: toNamekoError(err) };
    }
  }
}
