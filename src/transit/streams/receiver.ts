import { Readable } from "node:stream";
import { StreamBrokenError } from "../../errors/index.js";

/** Pieces a sender may have in flight before the receiver grants more (64 KiB each: 1 MiB). */
export const STREAM_WINDOW = 16;
/** The largest piece a sender cuts a stream into, in bytes. */
export const STREAM_PIECE = 64 * 1024;

/** How a receiver answers its sender: credit for pieces taken, or a cancel. */
export type Grant = (credit: number, cancel: boolean) => void;

/**
 * The receiving end of a stream from another node: a `Readable` fed by STREAM packets. It takes
 * at most {@link STREAM_WINDOW} pieces beyond what its reader consumed: credit goes back to the
 * sender only while the reader keeps up (`push` has room) or asks for more (`_read`), so a slow
 * reader holds the sender, and memory stays bounded by the window plus the reader's buffer.
 */
export class StreamReceiver extends Readable {
  /** Pieces taken but not yet granted back to the sender. */
  #owed = 0;
  /** Pieces the sender may still send without more credit. */
  #allowed = STREAM_WINDOW;
  #seq = 0;
  #done = false;

  readonly #grant: Grant;
  readonly #forget: () => void;

  constructor(grant: Grant, forget: () => void) {
    super({ highWaterMark: STREAM_PIECE * 4 });
    this.#grant = grant;
    this.#forget = forget;
    // An error may arrive before the caller has the stream in hand (the answer and the failing
    // piece in one read): never an uncaught 'error' that ends the process. Readers still get it
    // (async iteration, `pipeline`, `finished` report a stream destroyed with an error).
    this.on("error", ignore);
  }

  /** One piece arrived (in order, checked here). */
  piece(seq: number, data: Uint8Array, end: boolean, error: Error | undefined): void {
    if (this.#done) return;
    const counted = !end && error === undefined;
    if (seq !== this.#seq || (counted && this.#allowed <= 0)) {
      this.#fail(new StreamBrokenError("the sender broke the stream's order or credit"));
      return;
    }
    this.#seq++;
    if (counted) this.#allowed--;
    if (error !== undefined) {
      this.#fail(error);
      return;
    }
    const room = data.length === 0 ? true : this.push(data);
    if (end) {
      this.#done = true;
      this.#forget();
      this.push(null);
      return;
    }
    this.#owed++;
    if (room && this.#owed >= STREAM_WINDOW / 2) this.#settle();
  }

  /** The sender's node left: what arrived is kept, the rest fails. */
  broken(reason: string): void {
    if (!this.#done) this.#fail(new StreamBrokenError(reason));
  }

  override _read(): void {
    if (this.#owed > 0) this.#settle();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#done) {
      // The reader gave up (or failed): the sender stops.
      this.#done = true;
      this.#forget();
      this.#grant(0, true);
    }
    callback(err);
  }

  #settle(): void {
    this.#grant(this.#owed, false);
    this.#allowed += this.#owed;
    this.#owed = 0;
  }

  #fail(error: Error): void {
    this.#done = true;
    this.#forget();
    this.destroy(error);
  }
}

function ignore(): void {}
