import { randomUUID } from "node:crypto";
import {
  PacketTooLargeError,
  RequestTimeoutError,
  ServiceNotFoundError,
} from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import { asReply, JSON_CONTENT_TYPE, readJson, toJson } from "./body.js";
import { encodeContext, type NamekoContext } from "./context.js";
import { fromNamekoError } from "./errors.js";
import { ack, type Consumer, type NamekoLink } from "./link.js";
import { REPLY_QUEUE_TTL, replyQueueName } from "./names.js";

/**
 * Calls from Flotilla to nameko services, as nameko's `MethodProxy` makes them: a request on
 * the RPC exchange routed `<service>.<method>`, `mandatory` with publisher confirms (so a
 * service nobody serves fails at once, nameko's `UnknownService`), `reply_to` the routing key of
 * this node's reply queue and a fresh `correlation_id`; the reply settles the pending call.
 */

/** Marks positional arguments in params (see {@link namekoArgs}). */
const POSITIONAL: unique symbol = Symbol("nameko.args");

/**
 * Params for a nameko method that takes positional arguments (and maybe keywords too). An array
 * as params is all-positional already: `broker.call("calc.add", [1, 2])`.
 *
 * @example
 * ```ts
 * await broker.call("calc.scale", namekoArgs([2, 3], { factor: 10 })); // scale(2, 3, factor=10)
 * ```
 */
export function namekoArgs(
  args: readonly unknown[],
  kwargs: Record<string, unknown> = {},
): Record<string, unknown> {
  return Object.assign({ ...kwargs }, { [POSITIONAL]: [...args] });
}

/** nameko's `{"args", "kwargs"}` for Flotilla params: objects are keywords, arrays positional. */
export function requestBody(params: unknown): { args: unknown[]; kwargs: Record<string, unknown> } {
  if (params === undefined || params === null) return { args: [], kwargs: {} };
  if (Array.isArray(params)) return { args: params, kwargs: {} };
  if (typeof params !== "object") return { args: [params], kwargs: {} };
  const positional = (params as { [POSITIONAL]?: unknown[] })[POSITIONAL];
  return { args: positional ?? [], kwargs: { ...(params as Record<string, unknown>) } };
}

interface Pending {
  action: string;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

/** What one outgoing call needs besides its name and params. */
export interface OutgoingCall {
  context: NamekoContext;
  /** ms; 0 waits for ever (as nameko's own proxies do). */
  timeout: number;
}

/** Sends calls to nameko services and matches their replies. */
export class RpcClient {
  /** The reply queue's routing key: nameko's `reply_to`. */
  readonly routingKey = randomUUID();
  readonly #pending = new Map<string, Pending>();
  #consumer: Consumer | undefined;

  constructor(
    private readonly link: NamekoLink,
    private readonly exchange: string,
    private readonly caller: string,
    private readonly maxMessageSize: number,
    private readonly logger: Logger,
  ) {}

  /** Number of calls waiting for their reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Declares this node's reply queue (exclusive, expiring as nameko's) and consumes it. */
  async start(): Promise<void> {
    this.#consumer = await this.link.consume(
      {
        name: replyQueueName(this.caller, this.routingKey),
        exchange: this.exchange,
        bindings: [this.routingKey],
        options: {
          durable: false,
          exclusive: true,
          autoDelete: true,
          arguments: { "x-expires": REPLY_QUEUE_TTL },
        },
        prefetch: 0,
      },
      (msg, channel) => {
        ack(channel, msg);
        const id = msg.properties.correlationId;
        const pending = typeof id === "string" ? this.#pending.get(id) : undefined;
        if (pending === undefined) {
          this.logger.debug({ correlationId: id }, "nameko reply for no pending call dropped");
          return;
        }
        this.#settle(id as string);
        const body = readJson(msg, this.maxMessageSize);
        const reply = body.ok ? asReply(body.value) : body;
        if (!reply.ok) {
          pending.reject(
            fromNamekoError({ exc_type: "MalformedReply", value: reply.reason }, pending.action),
          );
        } else if (reply.value.error !== null && reply.value.error !== false) {
          pending.reject(fromNamekoError(reply.value.error, pending.action));
        } else {
          pending.resolve(reply.value.result);
        }
      },
    );
  }

  /** Calls `<service>.<method>` on nameko; rejects with the remote error, a timeout, or no route. */
  call(service: string, method: string, params: unknown, call: OutgoingCall): Promise<unknown> {
    const action = `${service}.${method}`;
    const body = toJson(requestBody(params));
    if (body === undefined)
      return Promise.reject(new TypeError(`Params of ${action} are not JSON`));
    if (body.length > this.maxMessageSize) {
      return Promise.reject(new PacketTooLargeError(body.length, this.maxMessageSize));
    }
    const correlationId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer =
        call.timeout > 0
          ? setTimeout(() => {
              this.#settle(correlationId);
              reject(new RequestTimeoutError(action, call.timeout));
            }, call.timeout)
          : undefined;
      this.#pending.set(correlationId, { action, resolve, reject, timer });
      this.link
        .publish(this.exchange, action, body, {
          mandatory: true,
          replyTo: this.routingKey,
          correlationId,
          contentType: JSON_CONTENT_TYPE,
          contentEncoding: "utf-8",
          deliveryMode: 2,
          headers: encodeContext(call.context),
        })
        .then((routed) => {
          if (routed || !this.#settle(correlationId)) return;
          reject(
            new ServiceNotFoundError(action, {
              data: { action, excType: "UnknownService", service },
            }),
          );
        })
        .catch((err: unknown) => {
          if (this.#settle(correlationId)) reject(err);
        });
    });
  }

  /** Rejects every pending call with `err` and stops consuming replies. */
  async stop(err: unknown): Promise<void> {
    for (const [id, pending] of [...this.#pending]) {
      this.#settle(id);
      pending.reject(err);
    }
    await this.#consumer?.cancel();
    this.#consumer = undefined;
  }

  /** Forgets a pending call; false when it was settled already. */
  #settle(id: string): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    return true;
  }
}
