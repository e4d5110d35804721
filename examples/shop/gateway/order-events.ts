// Server-sent events of `orders.status`, per user: the storefront's order history listens on
// `GET /api/orders/events?token=<jwt>` and sees its orders turn `confirmed` or `rejected` live.
//
// `EventSource` cannot send an Authorization header, so the token comes in the query string and
// is verified here with jose (the same secret, algorithm and issuer as `jwtAuth`). A stream lives until
// the client goes away, its token expires, or the gateway stops.
import type { ServerResponse } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { jwtVerify } from "jose";
import { JWT_ISSUER } from "../shared/auth.js";

/** The payload of `orders.status`, as the orders service emits it (see the shop's README). */
export interface OrderStatusEvent {
  orderId: string;
  userId: string;
  status: "pending" | "confirmed" | "rejected";
  reason?: string;
}

/** Settings of an {@link OrderEvents} hub. */
export interface OrderEventsOptions {
  /** The HS256 secret the users service signs tokens with. */
  secret: string;
  /** Milliseconds between two heartbeat comments. Default 15 000. */
  heartbeat?: number;
  /** Open streams one user may have at once; the oldest is closed past it. Default 8. */
  perUser?: number;
}

/** One open stream: the raw response, whose user, and when its token expires (ms, or never). */
interface Stream {
  readonly response: ServerResponse;
  readonly userId: string;
  readonly expires: number;
}

/**
 * The open event streams of one gateway, by user. `publish` writes a status event to the
 * streams of the order's user; a timer writes a heartbeat comment to all (so proxies keep the
 * connection, and the client notices a dead one) and closes streams whose token has expired.
 *
 * @example
 * ```ts
 * const hub = new OrderEvents({ secret });
 * hub.route(gateway.app, "/api/orders/events");
 * hub.publish({ orderId: "o1", userId: "u1", status: "confirmed" });
 * hub.close(); // before gateway.close(): open streams would hold it up
 * ```
 */
export class OrderEvents {
  readonly #streams = new Map<string, Set<Stream>>();
  readonly #key: Uint8Array;
  readonly #perUser: number;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(options: OrderEventsOptions) {
    this.#key = new TextEncoder().encode(options.secret);
    this.#perUser = options.perUser ?? 8;
    this.#timer = setInterval(() => this.#beat(), options.heartbeat ?? 15_000);
    this.#timer.unref();
  }

  /** How many streams are open (all users). */
  get size(): number {
    let n = 0;
    for (const set of this.#streams.values()) n += set.size;
    return n;
  }

  /** Adds `GET <path>?token=<jwt>` to `app` (before it listens). */
  route(app: FastifyInstance, path: string): void {
    app.get(path, (request, reply) => this.#open(request, reply));
  }

  /** Writes `event: status` with the payload to every stream of the order's user. */
  publish(event: OrderStatusEvent): void {
    const streams = this.#streams.get(event.userId);
    if (streams === undefined) return;
    const frame = `event: status\ndata: ${JSON.stringify(event)}\n\n`;
    for (const stream of streams) stream.response.write(frame);
  }

  /** Ends every stream and stops the heartbeat; later connections are refused with 503. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const set of this.#streams.values()) for (const stream of set) stream.response.end();
    this.#streams.clear();
  }

  async #open(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    if (this.#closed) return problem(reply, 503, "SERVICE_NOT_AVAILABLE", "The gateway stops.");
    const { token } = request.query as { token?: unknown };
    if (typeof token !== "string" || token === "") {
      return problem(reply, 401, "UNAUTHORIZED", "A token is required: ?token=<jwt>.");
    }
    let claims: { sub?: string; exp?: number };
    try {
      ({ payload: claims } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        issuer: JWT_ISSUER,
      }));
    } catch {
      return problem(reply, 401, "UNAUTHORIZED", "The token is invalid or has expired.");
    }
    if (typeof claims.sub !== "string") {
      return problem(reply, 401, "UNAUTHORIZED", "The token names no user.");
    }
    // From here on the response is ours: Fastify neither serializes nor ends it.
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no", // tells nginx-like proxies not to buffer the stream
      "x-request-id": request.id,
    });
    // `retry` sets the client's reconnection delay; the comment flushes the headers at once,
    // so the browser's `open` fires now rather than with the first event.
    response.write("retry: 3000\n: connected\n\n");
    const stream: Stream = {
      response,
      userId: claims.sub,
      expires: typeof claims.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY,
    };
    this.#add(stream);
    request.raw.once("close", () => this.#remove(stream));
  }

  #add(stream: Stream): void {
    let set = this.#streams.get(stream.userId);
    if (set === undefined) {
      set = new Set();
      this.#streams.set(stream.userId, set);
    }
    // A user with many tabs (or a client that leaks streams) keeps only the newest ones.
    if (set.size >= this.#perUser) {
      const oldest = set.values().next().value;
      if (oldest !== undefined) this.#remove(oldest);
    }
    set.add(stream);
  }

  #remove(stream: Stream): void {
    const set = this.#streams.get(stream.userId);
    if (set?.delete(stream) === true && set.size === 0) this.#streams.delete(stream.userId);
    if (!stream.response.writableEnded) stream.response.end();
  }

  #beat(): void {
    const now = Date.now();
    for (const set of [...this.#streams.values()]) {
      for (const stream of [...set]) {
        // An expired token ends its stream; the client reconnects with a fresh one (or not).
        if (stream.expires <= now) this.#remove(stream);
        else stream.response.write(": heartbeat\n\n");
      }
    }
  }
}

/** A problem+json answer in the gateway's format, for refusals before the stream opens. */
function problem(reply: FastifyReply, status: number, code: string, detail: string): FastifyReply {
  const title = status === 401 ? "Unauthorized" : "Service Unavailable";
  if (status === 401) reply.header("www-authenticate", 'Bearer error="invalid_token"');
  return reply
    .code(status)
    .type("application/problem+json; charset=utf-8")
    .header("x-request-id", reply.request.id)
    .send(
      JSON.stringify({
        type: "about:blank",
        title,
        status,
        code,
        detail,
        requestId: reply.request.id,
      }),
    );
}
