// Byte streams between nodes: a call's params or result may be a stream. It travels as STREAM
// packets (binary pieces, wire.ts) to the node at the other end, which grants credit back with
// STREAM_ACK packets as its reader consumes them, so a slow reader holds the sender.
//
//   wire.ts      the binary body of a STREAM packet
//   receiver.ts  the receiving end: a Readable fed by pieces, granting credit
//   sender.ts    the sending end: reads a Readable while it has credit
//   detect.ts    what counts as a stream (Node Readable, web ReadableStream)
import { errorFromPlain, StreamBrokenError } from "../../errors/index.js";
import { send, type TransitCore } from "../core.js";
import {
  PacketType,
  STREAM_END,
  STREAM_ERROR,
  type StreamAckPacket,
  type StreamPacket,
} from "../packets.js";
import { type ByteStream, toReadable } from "./detect.js";
import { StreamReceiver } from "./receiver.js";
import { StreamSender } from "./sender.js";

export { type ByteStream, isByteStream, toReadable } from "./detect.js";
export { STREAM_PIECE, STREAM_WINDOW, StreamReceiver } from "./receiver.js";

/** The streams of one node in flight, both ways, by the node at the other end and request ID. */
export class Streams {
  readonly #receivers = new Map<string, StreamReceiver>();
  readonly #senders = new Map<string, StreamSender>();

  constructor(private readonly core: TransitCore) {}

  /** Streams in flight, and how many of the outgoing ones wait for credit (a slow reader). */
  get size(): { receiving: number; sending: number; waiting: number } {
    let waiting = 0;
    for (const sender of this.#senders.values()) if (sender.waiting) waiting++;
    return { receiving: this.#receivers.size, sending: this.#senders.size, waiting };
  }

  /** The receiving end of stream `id` from `peer`; its credit goes back on `ackTopic`. */
  receive(peer: string, id: string, ackTopic: string): StreamReceiver {
    const key = `${peer}\n${id}`;
    const sender = this.core.nodeID;
    const receiver: StreamReceiver = new StreamReceiver(
      (credit, cancel) => {
        const body = cancel ? { sender, id, credit, cancel } : { sender, id, credit };
        send(this.core, ackTopic, PacketType.STREAM_ACK, body).catch((err: unknown) =>
          this.core.logger.debug({ err, peer, id }, "Could not send a stream's credit"),
        );
      },
      () => {
        if (this.#receivers.get(key) === receiver) this.#receivers.delete(key);
      },
    );
    this.#receivers.set(key, receiver);
    return receiver;
  }

  /** Sends `stream` as stream `id` to `peer`, on `topic`. */
  send(stream: ByteStream, peer: string, id: string, topic: string): void {
    const key = `${peer}\n${id}`;
    const from = this.core.nodeID;
    const sender = new StreamSender(
      toReadable(stream),
      (seq, flags, data) =>
        send(this.core, topic, PacketType.STREAM, { sender: from, id, seq, flags, data }),
      from,
    );
    this.#senders.set(key, sender);
    const forget = () => {
      if (this.#senders.get(key) === sender) this.#senders.delete(key);
    };
    sender.done.then(forget, (err: unknown) => {
      forget();
      this.core.logger.warn({ err, peer, id }, "A stream to another node failed");
    });
  }

  /** Stops sending stream `id` to `peer` (the call it belongs to ended). */
  stop(peer: string, id: string): void {
    this.#senders.get(`${peer}\n${id}`)?.cancel();
  }

  /** A STREAM packet arrived. */
  piece(packet: StreamPacket): void {
    const receiver = this.#receivers.get(`${packet.sender}\n${packet.id}`);
    if (receiver === undefined) {
      this.core.logger.debug(
        { from: packet.sender, id: packet.id },
        "Dropped a piece of an unknown stream",
      );
      return;
    }
    const end = (packet.flags & STREAM_END) !== 0;
    const error = (packet.flags & STREAM_ERROR) !== 0 ? remoteError(packet.data) : undefined;
    receiver.piece(packet.seq, packet.data, end, error);
  }

  /** A STREAM_ACK packet arrived. */
  ack(packet: StreamAckPacket): void {
    const sender = this.#senders.get(`${packet.sender}\n${packet.id}`);
    if (sender === undefined) return;
    if (packet.cancel === true) sender.cancel();
    else sender.credit(packet.credit);
  }

  /** `nodeID` left: its streams to this node break, and this node's streams to it stop. */
  peerGone(nodeID: string): void {
    const prefix = `${nodeID}\n`;
    for (const [key, receiver] of this.#receivers) {
      if (key.startsWith(prefix)) receiver.broken(`node '${nodeID}' left`);
    }
    for (const [key, sender] of this.#senders) if (key.startsWith(prefix)) sender.cancel();
  }

  /** This node stops: every stream ends. */
  closeAll(): void {
    for (const receiver of [...this.#receivers.values()]) receiver.broken("the node stopped");
    for (const sender of [...this.#senders.values()]) sender.cancel();
  }
}

function remoteError(data: Uint8Array): Error {
  try {
    return errorFromPlain(JSON.parse(Buffer.from(data).toString("utf8")));
  } catch {
    return new StreamBrokenError("the sender failed with an error that does not decode");
  }
}
