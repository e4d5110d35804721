import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/** A byte stream a call may take as params or give as its result. */
export type ByteStream = Readable | WebReadableStream<Uint8Array> | ReadableStream<Uint8Array>;

/** Whether `value` is a Node `Readable` or a web `ReadableStream`. */
export function isByteStream(value: unknown): value is ByteStream {
  if (typeof value !== "object" || value === null) return false;
  if (value instanceof Readable) return true;
  if (typeof ReadableStream !== "undefined" && value instanceof ReadableStream) return true;
  return (
    typeof (value as { pipe?: unknown }).pipe === "function" &&
    typeof (value as { on?: unknown }).on === "function" &&
    typeof (value as { read?: unknown }).read === "function"
  );
}

/** `stream` as a Node `Readable` (a web stream is wrapped). */
export function toReadable(stream: ByteStream): Readable {
  if (stream instanceof Readable) return stream;
  if (typeof ReadableStream !== "undefined" && stream instanceof ReadableStream) {
    return Readable.fromWeb(stream as WebReadableStream<Uint8Array>);
  }
  return stream as unknown as Readable;
}
