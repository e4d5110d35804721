/**
 * The wire format between two tcp-transporter nodes. Every frame is
 *
 * ```
 * u32 BE  length of what follows (type + body), 1 ≤ length ≤ the frame cap
 * u8      type
 * ...     body
 * ```
 *
 * | type | name  | body                                                           |
 * |------|-------|----------------------------------------------------------------|
 * | 1    | HELLO | UTF-8 JSON {@link Hello}                                       |
 * | 2    | ACK   | empty, or the acceptor's 32-byte proof: the session is open     |
 * | 3    | SUB   | UTF-8 topic the sender now subscribes to                       |
 * | 4    | MSG   | u16 BE topic length, UTF-8 topic, payload (the rest)           |
 * | 5    | PING  | u32 BE id                                                      |
 * | 6    | PONG  | u32 BE id of the PING answered                                 |
 * | 7    | BYE   | empty: the sender is leaving on purpose                        |
 * | 8    | DENY  | UTF-8 reason: the sender refuses the handshake (then closes)   |
 */

const HELLO = 1;
const ACK = 2;
const SUB = 3;
const MSG = 4;
const PING = 5;
const PONG = 6;
const BYE = 7;
const DENY = 8;

/** Bytes before a body: the u32 length and the u8 type. */
const PREFIX = 5;
/** Longest topic a MSG frame can carry (u16 length). */
export const MAX_TOPIC_BYTES = 0xffff;
/** Bytes of a proof (HMAC-SHA-256) in an ACK. */
export const PROOF_BYTES = 32;
/** Longest DENY reason read or sent, in bytes. */
const MAX_REASON_BYTES = 200;
/** Room a MSG frame needs beyond its payload; part of the frame cap. */
export const FRAME_OVERHEAD = 1 + 2 + MAX_TOPIC_BYTES;

/** The introduction each side sends first on a connection. */
export interface Hello {
  /** Protocol version; a node refuses versions it does not speak. */
  v: 1;
  nodeID: string;
  namespace: string;
  /** Random per connect(): tells a restarted node from the one it replaces. */
  instance: string;
  /** Where the sender listens (informative; a wildcard means "where I came from"). */
  host: string;
  port: number;
  /** The sender's subscriptions at the time of the HELLO; SUB frames follow for new ones. */
  subs: string[];
  /** Fresh random bytes (base64) for this connection: the other side's proof covers them. */
  nonce?: string;
  /** In a greeting: this node admits only peers that prove the cluster secret. */
  auth?: boolean;
  /** In a dialer's HELLO: its proof (base64 HMAC) of the secret, bound to both nodeIDs and nonces. */
  proof?: string;
}

/** One decoded frame. */
export type Frame =
  | { type: "hello"; hello: Hello }
  | { type: "ack"; proof?: Buffer }
  | { type: "deny"; reason: string }
  | { type: "sub"; topic: string }
  | { type: "msg"; topic: string; data: Uint8Array }
  | { type: "ping"; id: number }
  | { type: "pong"; id: number }
  | { type: "bye" };

/** A peer sent bytes that are not a valid frame; the connection must be dropped. */
export class FrameError extends Error {
  override name = "FrameError";
}

function frame(type: number, body?: Uint8Array): Buffer {
  const length = body?.length ?? 0;
  const buf = Buffer.allocUnsafe(PREFIX + length);
  buf.writeUInt32BE(1 + length, 0);
  buf[4] = type;
  if (body !== undefined) buf.set(body, PREFIX);
  return buf;
}

function idFrame(type: number, id: number): Buffer {
  const buf = Buffer.allocUnsafe(PREFIX + 4);
  buf.writeUInt32BE(5, 0);
  buf[4] = type;
  buf.writeUInt32BE(id >>> 0, PREFIX);
  return buf;
}

export const encodeHello = (hello: Hello): Buffer =>
  frame(HELLO, Buffer.from(JSON.stringify(hello)));
export const encodeSub = (topic: string): Buffer => frame(SUB, Buffer.from(topic));
export const encodePing = (id: number): Buffer => idFrame(PING, id);
export const encodePong = (id: number): Buffer => idFrame(PONG, id);
export const encodeAck = (proof?: Uint8Array): Buffer => frame(ACK, proof);
export const encodeDeny = (reason: string): Buffer =>
  frame(DENY, Buffer.from(reason).subarray(0, MAX_REASON_BYTES));
/** Immutable, so shared by every connection. */
export const ACK_FRAME: Buffer = frame(ACK);
export const BYE_FRAME: Buffer = frame(BYE);

/**
 * Everything of a MSG frame but the payload, so the payload is written as is (no copy) right
 * after it. Throws a `RangeError` for a topic longer than {@link MAX_TOPIC_BYTES}.
 */
export function encodeMsgHeader(topic: string, payloadLength: number): Buffer {
  const topicLength = Buffer.byteLength(topic);
  if (topicLength > MAX_TOPIC_BYTES) {
    throw new RangeError(`Topic is ${topicLength} bytes; the limit is ${MAX_TOPIC_BYTES}.`);
  }
  const buf = Buffer.allocUnsafe(PREFIX + 2 + topicLength);
  buf.writeUInt32BE(1 + 2 + topicLength + payloadLength, 0);
  buf[4] = MSG;
  buf.writeUInt16BE(topicLength, PREFIX);
  buf.write(topic, PREFIX + 2, "utf8");
  return buf;
}

/**
 * Cuts a byte stream into frames, whatever the chunking: a frame split over many reads, or many
 * frames in one read. A length over the cap is refused as soon as its 4 bytes arrive, so a bad
 * peer cannot make us buffer it.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being read; -1 while its length prefix is still incomplete. */
  private pending = -1;

  constructor(private maxFrameLength: number) {}

  /** Bytes held for a frame not yet complete. */
  get held(): number {
    return this.buffered;
  }

  /** Changes the cap on frame lengths (a session raises it once the handshake is done). */
  setLimit(maxFrameLength: number): void {
    this.maxFrameLength = maxFrameLength;
  }

  /** Adds bytes; returns the frames they complete. Throws {@link FrameError} on bad input. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.pending < 0) {
        if (this.buffered < 4) break;
        const length = this.take(4).readUInt32BE(0);
        if (length < 1 || length > this.maxFrameLength) {
          throw new FrameError(`Frame length ${length} is outside 1..${this.maxFrameLength}.`);
        }
        this.pending = length;
      }
      if (this.buffered < this.pending) break;
      const body = this.take(this.pending);
      this.pending = -1;
      frames.push(parseFrame(body));
    }
    return frames;
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new FrameError("Decoder ran out of bytes."); // unreachable
      const count = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, count);
      offset += count;
      if (count === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    return out;
  }
}

function parseFrame(body: Buffer): Frame {
  const type = body[0];
  switch (type) {
    case HELLO:
      return { type: "hello", hello: parseHello(body.subarray(1)) };
    case ACK:
      if (body.length !== 1 && body.length !== 1 + PROOF_BYTES) {
        throw new FrameError("ACK takes no body or a proof.");
      }
      return body.length === 1 ? { type: "ack" } : { type: "ack", proof: body.subarray(1) };
    case BYE:
      if (body.length !== 1) throw new FrameError(`Frame type ${type} takes no body.`);
      return { type: "bye" };
    case DENY:
      return {
        type: "deny",
        // Shown in our log: printable ASCII only, and short, whatever the peer sent.
        reason: body
          .subarray(1, 1 + MAX_REASON_BYTES)
          .toString("latin1")
          .replace(/[^\x20-\x7e]/g, "?"),
      };
    case SUB:
      return { type: "sub", topic: body.toString("utf8", 1) };
    case PING:
    case PONG: {
      if (body.length !== 5) throw new FrameError(`Frame type ${type} needs a 4-byte id.`);
      return { type: type === PING ? "ping" : "pong", id: body.readUInt32BE(1) };
    }
    case MSG: {
      const topicEnd = body.length >= 3 ? 3 + body.readUInt16BE(1) : Number.POSITIVE_INFINITY;
      if (topicEnd > body.length) throw new FrameError("MSG frame is shorter than its topic.");
      return {
        type: "msg",
        topic: body.toString("utf8", 3, topicEnd),
        data: body.subarray(topicEnd),
      };
    }
    default:
      throw new FrameError(`Unknown frame type ${type}.`);
  }
}

function parseHello(bytes: Buffer): Hello {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new FrameError("HELLO is not JSON.");
  }
  const h = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  if (h.v !== 1) throw new FrameError(`Unsupported protocol version ${String(h.v)}.`);
  const valid =
    typeof h.nodeID === "string" &&
    h.nodeID !== "" &&
    typeof h.namespace === "string" &&
    typeof h.instance === "string" &&
    typeof h.host === "string" &&
    typeof h.port === "number" &&
    Number.isInteger(h.port) &&
    h.port >= 0 &&
    h.port <= 0xffff &&
    Array.isArray(h.subs) &&
    h.subs.every((s) => typeof s === "string") &&
    optionalShortString(h.nonce) &&
    optionalShortString(h.proof) &&
    (h.auth === undefined || typeof h.auth === "boolean");
  if (!valid) throw new FrameError("HELLO is malformed.");
  return h as unknown as Hello;
}

/** Nonces and proofs are short base64 strings; anything else is a malformed HELLO. */
function optionalShortString(value: unknown): boolean {
  return value === undefined || (typeof value === "string" && value.length <= 128);
}
