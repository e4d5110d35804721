// Messages larger than the server's `max_payload` (1 MiB by default) travel in parts, each marked
// by a header `Flo-Part: <message id> <index> <count> <total bytes>`. Every part but the last goes
// to the subject's parts subject (`<subject>.$part`), which each subscriber of the subject also
// subscribes to, without a queue group; the last part goes to the subject itself. So the member
// of a queue group that the server picks for the last part has all the others, and a message is
// delivered where its last part lands: in order with the whole messages sent before and after it
// (NATS delivers one connection's messages to one subscriber in the order they were sent).

/** The header that marks a part. */
export const PART_HEADER = "Flo-Part";

/** Header bytes (and some) a part needs on top of its payload. */
export const PART_OVERHEAD = 256;

/**
 * The subject of the parts before the last. `natsSubject` escapes `$`, so no topic maps to it.
 *
 * @example
 * ```ts
 * partsSubject("flo.shop.REQ.n1"); // "flo.shop.REQ.n1.$part"
 * ```
 */
export function partsSubject(subject: string): string {
  return `${subject}.$part`;
}

/** An assembly older than this is dropped: its sender died, or a part was lost in a reconnect. */
const STALE_AFTER = 30_000;

interface Assembly {
  readonly buffer: Buffer;
  readonly count: number;
  readonly started: number;
  next: number;
  filled: number;
}

/** Why a part could not be used, for one log line per kind. */
export type PartProblem = "malformed" | "too large" | "incomplete";

/**
 * Puts parts back together, for one subscription. Refuses a message over `maxSize` before
 * allocating it. Holds at most one unfinished message per sender besides the one in progress:
 * a queue member whose group-mate got the last part learns it from that sender's next message.
 *
 * @example
 * ```ts
 * const assembler = new PartAssembler(16 * 1024 * 1024);
 * assembler.add("k3x-7 0 2 1500000", first); // undefined: more to come
 * const whole = assembler.add("k3x-7 1 2 1500000", last); // the message
 * ```
 */
export class PartAssembler {
  readonly #open = new Map<string, Assembly>();
  /** Messages refused at their first part: their other parts are dropped quietly. */
  readonly #refused = new Set<string>();

  constructor(private readonly maxSize: number) {}

  /**
   * Adds one part. Returns the message when `part` is its last and every part is in, `undefined`
   * while more are to come, or the problem (the part is dropped, and its message with it).
   */
  add(header: string, part: Uint8Array): Uint8Array | PartProblem | undefined {
    const fields = header.split(" ");
    const id = fields[0] ?? "";
    const [index, count, total] = [fields[1], fields[2], fields[3]].map(Number) as [
      number,
      number,
      number,
    ];
    if (fields.length !== 4 || ![index, count, total].every(Number.isSafeInteger) || count < 2) {
      return "malformed";
    }
    const last = index === count - 1;
    if (this.#refused.has(id)) {
      if (last) this.#refused.delete(id);
      return undefined;
    }
    let assembly = this.#open.get(id);
    if (index === 0) {
      if (total > this.maxSize) {
        if (this.#refused.size >= 64) this.#refused.clear(); // senders that died mid-message
        this.#refused.add(id);
        return "too large";
      }
      this.#forgetEarlier(id);
      assembly = {
        buffer: Buffer.allocUnsafe(total),
        count,
        started: Date.now(),
        next: 0,
        filled: 0,
      };
      this.#open.set(id, assembly);
    }
    if (
      assembly === undefined ||
      assembly.next !== index ||
      assembly.filled + part.length > assembly.buffer.length
    ) {
      this.#open.delete(id);
      // A lost middle part shows at the last one; a part without its start (it went to a
      // reconnect, or came before this subscription) is dropped quietly.
      return last ? "incomplete" : undefined;
    }
    assembly.buffer.set(part, assembly.filled);
    assembly.filled += part.length;
    assembly.next += 1;
    if (!last) return undefined;
    this.#open.delete(id);
    return assembly.filled === assembly.buffer.length ? assembly.buffer : "malformed";
  }

  /** Forgets every half-assembled message (their missing parts will not come after a reconnect). */
  clear(): void {
    this.#open.clear();
    this.#refused.clear();
  }

  /** How many messages are being put together (for tests). */
  get pending(): number {
    return this.#open.size;
  }

  /**
   * A sender's new message means its earlier ones are over: their last part went to another
   * member of the queue group (or was lost). Also drops what is stale.
   */
  #forgetEarlier(id: string): void {
    const sender = id.slice(0, id.lastIndexOf("-") + 1);
    const limit = Date.now() - STALE_AFTER;
    for (const [other, a] of this.#open) {
      if (other.startsWith(sender) || a.started < limit) this.#open.delete(other);
    }
  }
}

/**
 * Splits `data` into parts of at most `size` bytes (views, no copies), with their header values.
 *
 * @example
 * ```ts
 * for (const { header, part } of splitParts("k3x-7", data, 1_048_000)) publish(part, header);
 * ```
 */
export function* splitParts(
  id: string,
  data: Uint8Array,
  size: number,
): Generator<{ header: string; part: Uint8Array; last: boolean }> {
  const count = Math.ceil(data.length / size);
  for (let i = 0; i < count; i++) {
    const part = data.subarray(i * size, Math.min((i + 1) * size, data.length));
    yield { header: `${id} ${i} ${count} ${data.length}`, part, last: i === count - 1 };
  }
}
