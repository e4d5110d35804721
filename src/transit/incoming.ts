import { CallContext } from "../broker/context.js";
import type { LocalNode } from "../broker/remote.js";
import {
  BrokerStoppedError,
  CallAbortedError,
  errorFromPlain,
  errorToPlain,
  PacketTooLargeError,
  ResultNotSerializableError,
  ServiceNotFoundError,
} from "../errors/index.js";
import { send, type TransitCore } from "./core.js";
import {
  type CancelPacket,
  type EventPacket,
  PacketType,
  type RequestPacket,
  type ResponsePacket,
} from "./packets.js";
import { isByteStream, type StreamReceiver, type Streams, toReadable } from "./streams/index.js";

/**
 * Handles calls, answers and events that arrive from other nodes: runs the local handler with a
 * context rebuilt from the packet and sends back the result or the error as plain data.
 */
export class Incoming {
  /** Requests from other nodes being handled now (graceful stop waits for them). */
  inFlight = 0;
  /** Their contexts, by caller and request ID, so a CANCEL or the caller's leaving aborts them. */
  readonly #live = new Map<string, CallContext<unknown>>();

  constructor(
    private readonly core: TransitCore,
    private readonly local: LocalNode,
    private readonly streams: Streams,
  ) {}

  /** Handles a call; the promise settles once it is answered (or dropped). */
  request(packet: RequestPacket): Promise<void> | undefined {
    const action = this.core.registry.actions.get(packet.action);
    // Params that are a stream: its pieces follow this packet; credit goes back to the caller.
    const input =
      packet.stream === true
        ? this.streams.receive(
            packet.sender,
            packet.id,
            this.core.topics.node("RES", packet.sender),
          )
        : undefined;
    if (!this.local.acceptingCalls) {
      input?.destroy();
      this.#reply(packet, undefined, new BrokerStoppedError(this.core.nodeID));
      return;
    }
    if (
      action === undefined ||
      action.visibility === "protected" ||
      action.visibility === "private"
    ) {
      input?.destroy();
      this.#reply(
        packet,
        undefined,
        new ServiceNotFoundError(packet.action, { nodeID: this.core.nodeID }),
      );
      return;
    }
    let timeout = packet.timeout;
    if (packet.sentAt !== undefined && timeout > 0) {
      // It waited in a queue: run it only with what is left of its budget, or not at all.
      timeout -= Math.max(0, Date.now() - packet.sentAt);
      if (timeout <= 0) {
        input?.destroy();
        this.core.logger.debug(
          { action: packet.action, from: packet.sender },
          "Dropped an expired queued request",
        );
        return;
      }
    }
    const ctx = new CallContext(this.local.host, {
      name: action.name,
      params: input ?? packet.params ?? {},
      meta: packet.meta ?? {},
      service: action.service,
      timeout: timeout > 0 ? timeout : undefined,
      requestID: packet.requestID,
      callerNodeID: packet.sender,
      headers: packet.headers,
      origin: { level: packet.level, parentID: packet.parentID, caller: packet.caller },
    });
    let result: Promise<unknown>;
    try {
      result = this.local.callFromRemote(action, ctx);
    } catch (err) {
      result = Promise.reject(err);
    }
    this.inFlight++;
    const key = `${packet.sender}\n${packet.id}`;
    this.#live.set(key, ctx);
    const done = (result?: unknown) => {
      this.inFlight--;
      if (this.#live.get(key) === ctx) this.#live.delete(key);
      CallContext.end(ctx);
      // What the handler left unread of its input is not wanted (unless it streams it back).
      if (input !== undefined) endInput(input, result);
    };
    return result.then(
      (data) => {
        done(data);
        this.#reply(packet, data, undefined);
      },
      (err: unknown) => {
        done();
        this.#reply(packet, undefined, err);
      },
    );
  }

  /** The caller gave up on a request it sent: its handler's `ctx.signal` aborts. */
  cancel(packet: CancelPacket): void {
    const ctx = this.#live.get(`${packet.sender}\n${packet.id}`);
    if (ctx !== undefined) {
      CallContext.cancel(ctx, new CallAbortedError(ctx.name, "the caller cancelled it"));
    }
  }

  /** A node left: the handlers still working for it stop being wanted. */
  callerLeft(nodeID: string): void {
    for (const ctx of this.#live.values()) {
      if (ctx.callerNodeID !== nodeID) continue;
      CallContext.cancel(ctx, new CallAbortedError(ctx.name, `the caller's node '${nodeID}' left`));
    }
  }

  response(packet: ResponsePacket): void {
    let settled: boolean;
    if (packet.ok && packet.stream === true) {
      // The result is a stream: its pieces follow; credit goes back to the node serving it.
      const topic = this.core.topics.node("REQ", packet.sender);
      const output = this.streams.receive(packet.sender, packet.id, topic);
      settled = this.core.pending.resolve(packet.id, output);
      if (!settled) output.destroy();
    } else {
      settled = packet.ok
        ? this.core.pending.resolve(packet.id, packet.data)
        : this.core.pending.reject(packet.id, errorFromPlain(packet.error ?? NO_ERROR));
    }
    if (!settled)
      this.core.logger.debug(
        { id: packet.id, from: packet.sender },
        "Dropped a late or unknown response",
      );
  }

  event(packet: EventPacket): void {
    const ack = packet.ack;
    if (ack === undefined) {
      this.local.receiveEvent(packet, false);
      return;
    }
    // The sender waits until this node's durable handlers settled the event, then hears so.
    let settled: Promise<void>;
    try {
      settled = this.local.receiveEvent(packet, true) ?? Promise.resolve();
    } catch (err) {
      settled = Promise.reject(err);
    }
    const answer = (body: ResponsePacket) =>
      send(this.core, this.core.topics.node("RES", packet.sender), PacketType.RESPONSE, body).catch(
        this.#replyFailed,
      );
    const sender = this.core.nodeID;
    settled.then(
      () => answer({ sender, id: ack, ok: true }),
      (err: unknown) => answer({ sender, id: ack, ok: false, error: plain(err, sender) }),
    );
  }

  #reply(packet: RequestPacket, data: unknown, err: unknown): void {
    const topic = this.core.topics.node("RES", packet.sender);
    const sender = this.core.nodeID;
    if (err === undefined && isByteStream(data)) {
      // The answer says a stream follows; its pieces go after it, on the same topic, in order.
      send(this.core, topic, PacketType.RESPONSE, { sender, id: packet.id, ok: true, stream: true })
        .then(() => this.streams.send(data, packet.sender, packet.id, topic))
        .catch(this.#replyFailed);
      return;
    }
    let sending: Promise<void>;
    try {
      sending =
        err === undefined
          ? send(this.core, topic, PacketType.RESPONSE, { sender, id: packet.id, ok: true, data })
          : send(this.core, topic, PacketType.RESPONSE, {
              sender,
              id: packet.id,
              ok: false,
              error: plain(err, sender),
            });
    } catch (encodeError) {
      // The result could not be serialized (a BigInt, a cycle...): the caller gets that error.
      const error = new ResultNotSerializableError(packet.action, (encodeError as Error).message);
      sending = send(this.core, topic, PacketType.RESPONSE, {
        sender,
        id: packet.id,
        ok: false,
        error: plain(error, sender),
      });
    }
    sending.catch((sendError: unknown) => {
      // An answer over maxPacketSize never leaves: the caller hears why instead of timing out.
      if (!(sendError instanceof PacketTooLargeError)) return this.#replyFailed(sendError);
      send(this.core, topic, PacketType.RESPONSE, {
        sender,
        id: packet.id,
        ok: false,
        error: plain(sendError, sender),
      }).catch(this.#replyFailed);
    });
  }

  readonly #replyFailed = (sendError: unknown): void => {
    this.core.logger.warn({ err: sendError }, "Could not send a response");
  };
}

function plain(err: unknown, nodeID: string) {
  const out = errorToPlain(err);
  out.nodeID ??= nodeID;
  return out;
}

/** What a failed response without an error stands for (a peer's bug): an internal error. */
const NO_ERROR = {
  name: "FlotillaError",
  message: "Remote call failed",
  code: "INTERNAL_ERROR",
  status: 500,
  retryable: false,
} as const;

/** Ends a request's input stream once its handler is done with it. */
function endInput(input: StreamReceiver, result: unknown): void {
  if (input.readableEnded || input.destroyed) return;
  // A handler that answers with a stream may be passing its input through: end the input with it.
  if (isByteStream(result)) toReadable(result).once("close", () => input.destroy());
  else input.destroy();
}
