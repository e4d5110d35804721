import type { Readable } from "node:stream";
import { errorToPlain } from "../../errors/index.js";
import { STREAM_END, STREAM_ERROR } from "../packets.js";
import { STREAM_PIECE, STREAM_WINDOW } from "./receiver.js";

/** Sends one piece of a stream (it is published in call order; a failure ends the stream). */
export type SendPiece = (seq: number, flags: number, data: Uint8Array) => Promise<void>;

/**
 * The sending end of a stream to another node: reads `source`, cuts it into pieces of at most
 * {@link STREAM_PIECE} bytes and sends them while it has credit; with none left it stops reading
 * (the source's own back-pressure then holds whatever feeds it). Ends with an END piece, or an
 * ERROR piece carrying the source's error; a cancel from the receiver destroys the source.
 */
export class StreamSender {
  #credit = STREAM_WINDOW;
  #wake: (() => void) | undefined;
  #cancelled = false;
  readonly done: Promise<void>;

  constructor(
    private readonly source: Readable,
    private readonly send: SendPiece,
    nodeID: string,
  ) {
    this.done = this.#pump(nodeID);
  }

  /** Whether it waits for credit: the receiver's reader has not kept up. */
  get waiting(): boolean {
    return this.#wake !== undefined;
  }

  /** The receiver took `credit` more pieces. */
  credit(credit: number): void {
    this.#credit += credit;
    this.#resume();
  }

  /** The receiver wants no more (or its node left): the source is destroyed. */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.source.destroy();
    this.#resume();
  }

  #resume(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #pump(nodeID: string): Promise<void> {
    let seq = 0;
    const failed = (err: unknown) => {
      // The packet could not go out (transporter down): nothing more will arrive either.
      if (!this.#cancelled) this.cancel();
      void err;
    };
    try {
      for await (const chunk of this.source) {
        const bytes = toBytes(chunk);
        for (let at = 0; at < bytes.length; at += STREAM_PIECE) {
          while (this.#credit <= 0 && !this.#cancelled) {
            await new Promise<void>((resolve) => {
              this.#wake = resolve;
            });
          }
          if (this.#cancelled) return;
          this.#credit--;
          this.send(seq++, 0, bytes.subarray(at, at + STREAM_PIECE)).catch(failed);
        }
      }
      if (!this.#cancelled) await this.send(seq, STREAM_END, EMPTY);
    } catch (err) {
      if (this.#cancelled) return;
      const plain = errorToPlain(err);
      plain.nodeID ??= nodeID;
      await this.send(seq, STREAM_ERROR, Buffer.from(JSON.stringify(plain))).catch(failed);
    }
  }
}

const EMPTY = new Uint8Array(0);

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  throw new TypeError("A stream between nodes carries bytes (Buffer, Uint8Array or strings).");
}
