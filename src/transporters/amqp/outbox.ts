import { notConnected } from "../errors.js";

/** One message to publish. */
export interface Outgoing {
  readonly topic: string;
  readonly content: Buffer;
  readonly ttl: number | undefined;
  readonly persistent: boolean;
}

/** What the outbox writes to: an AMQP session's publishing channel. */
export interface PublishChannel {
  /** Whether it failed or was closed. */
  readonly closed: boolean;
  /** Writes the message; false when the write buffer is full (wait for `onDrain`). */
  publish(message: Outgoing): boolean;
  /** Runs `fn` once the write buffer has room again. */
  onDrain(fn: () => void): void;
}

/** A message waiting for room in amqplib's write buffer. */
interface Waiting extends Outgoing {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Backpressure for publishing: a message goes straight into amqplib's write buffer (no round
 * trip, nothing awaited) until that buffer reports full; from then on, messages wait here, in
 * order, and their publish() resolves only once written after the buffer drains. So a caller
 * that awaits its publishes slows down to what the socket takes, and memory stays bounded.
 */
export class Outbox {
  readonly #waiting: Waiting[] = [];
  #blocked = false;

  /** Publishes `message` on `session`, or queues it behind others while the buffer is full. */
  send(session: PublishChannel, message: Outgoing): Promise<void> {
    if (this.#blocked) {
      return new Promise((resolve, reject) => this.#waiting.push({ ...message, resolve, reject }));
    }
    try {
      if (!session.publish(message)) this.#waitForRoom(session);
      return Promise.resolve();
    } catch (cause) {
      return Promise.reject(lost(cause));
    }
  }

  /** Resolves once nothing waits (or `session` closed, or after `timeout` ms). */
  async flushed(session: PublishChannel, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    while (this.#blocked && !session.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        session.onDrain(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Fails every waiting message: its connection is gone. */
  clear(): void {
    this.#blocked = false;
    for (const w of this.#waiting.splice(0)) {
      w.reject(lost());
    }
  }

  #waitForRoom(session: PublishChannel): void {
    this.#blocked = true;
    session.onDrain(() => {
      // Runs after disconnect() took the session too: it flushes what waits before closing.
      while (!session.closed) {
        const next = this.#waiting.shift();
        if (next === undefined) break;
        let room: boolean;
        try {
          room = session.publish(next);
        } catch (cause) {
          next.reject(lost(cause));
          continue;
        }
        next.resolve();
        if (!room) return this.#waitForRoom(session);
      }
      this.#blocked = false;
    });
  }
}

/** The retryable error of a publish whose connection went: callers fail fast, and may retry. */
function lost(cause?: unknown) {
  return notConnected("amqp", { why: "lost its connection", cause });
}
