import type { Redis } from "ioredis";
import { DurablePublishError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type {
  DeadLetter,
  DurableConsumeOptions,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "../durable.js";
import { notConnected } from "../errors.js";
import { type ClientFactory, corkBurst, openConnection, whenReady } from "./stream-connection.js";
import {
  type Entry,
  field,
  isReplyError,
  parseEntries,
  type StreamKeys,
  streamKeys,
  toBuffer,
} from "./stream-keys.js";
import { GroupMember } from "./stream-member.js";
import type { MemberHost } from "./stream-message.js";
import * as scripts from "./stream-scripts.js";

/** Settings of the durable streams of one namespace. */
export interface RedisStreamsSettings {
  readonly namespace: string;
  readonly nodeID: string;
  readonly logger: Logger;
  /** Makes a connection with the transporter's settings (see `clientOptions`). */
  readonly client: ClientFactory;
  /** A held entry idle this many ms counts as abandoned and is claimed. Default (and 0) 30 000. */
  readonly claimIdle?: number;
  /** Caps each event's stream near this many entries (XADD MAXLEN ~); 0, the default, does not. */
  readonly maxLen?: number;
}

/**
 * Durable events on Redis Streams. An event is a stream (`flo:<ns>:durable:<event>`), each
 * consumer group a Redis consumer group on it, each member a Redis consumer (`<nodeID>#<n>`)
 * reading on a connection of its own; publishing, acks and housekeeping share one command
 * connection, opened on first use. See `docs/durable-redis.md` for the design.
 *
 * @example
 * ```ts
 * const streams = transporter.durableStreams("shop");
 * await streams.consume("orders.placed", { group: "mailer", concurrency: 10 }, async (m) => {
 *   await m.ack();
 * });
 * await streams.publish("orders.placed", randomUUID(), bytes); // resolves once Redis has it
 * ```
 */
export class RedisStreams implements DurableStreams {
  readonly keys: StreamKeys;
  readonly claimIdle: number;
  readonly #members = new Set<GroupMember>();
  readonly #instances = new Map<string, number>();
  readonly #closed = new AbortController();
  readonly #host: MemberHost;
  #command: Redis | undefined;
  #opening: Promise<Redis> | undefined;
  #back: Promise<void> | undefined;

  constructor(readonly settings: RedisStreamsSettings) {
    this.keys = streamKeys(settings.namespace);
    this.claimIdle = settings.claimIdle || 30_000;
    const { logger } = settings;
    this.#host = {
      keys: this.keys,
      logger,
      claimIdle: this.claimIdle,
      openReader: () => openConnection(settings.client, "reader", logger),
      command: (op) => this.#connection().then(op),
      settle: (op) => this.#settle(op),
    };
  }

  /**
   * XADD to the event's stream; resolves once Redis answered (with `appendfsync always`, once
   * it is on disk). Rejects when Redis is not connected, or when no group reads the event yet
   * (NOMKSTREAM: the stream exists from the first group's start on), as nothing would get it.
   */
  async publish(stream: string, id: string, data: Uint8Array): Promise<void> {
    const key = this.keys.stream(stream);
    const cap = this.settings.maxLen ? ["MAXLEN", "~", this.settings.maxLen] : [];
    let reply: unknown;
    try {
      if (this.#closed.signal.aborted) throw new Error("the transporter is disconnected");
      const redis = this.#command ?? (await this.#connection());
      corkBurst(redis);
      reply = await redis.callBuffer(
        ...["XADD", key, "NOMKSTREAM", ...cap, "*", "id", id, "data", toBuffer(data)],
      );
    } catch (cause) {
      const text = (cause as Error).message;
      if (!isReplyError(cause)) {
        const why = `could not hand durable message '${id}' to Redis (${text})`;
        throw notConnected("redis", { why, cause });
      }
      throw new DurablePublishError(`Redis did not take durable message '${id}': ${text}`, {
        cause,
        data: { messageID: id, stream },
      });
    }
    if (reply === null) {
      throw new DurablePublishError(
        `Redis kept no copy of durable message '${id}': no consumer group reads '${stream}' yet (no durable handler of this event has started).`,
        { data: { messageID: id, stream, reason: "no group" } },
      );
    }
  }

  /** Joins `options.group` (creating it at the stream's end if new) and starts reading. */
  async consume(
    stream: string,
    options: DurableConsumeOptions,
    handler: (message: DurableMessage) => void,
  ): Promise<DurableSubscription> {
    const slot = `${stream}\n${options.group}`;
    const n = (this.#instances.get(slot) ?? 0) + 1;
    this.#instances.set(slot, n);
    const consumer = `${this.settings.nodeID}#${n}`;
    const concurrency = Math.max(1, options.concurrency);
    const member = new GroupMember(
      this.#host,
      stream,
      options.group,
      consumer,
      concurrency,
      handler,
    );
    this.#members.add(member);
    try {
      await member.start();
    } catch (err) {
      member.end();
      this.#members.delete(member);
      throw err;
    }
    return { close: () => member.close() };
  }

  async listDeadLetters(): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for await (const entry of this.#deadLetterEntries()) {
      const letter = toDeadLetter(entry);
      if (letter !== undefined) letters.push(letter);
    }
    return letters;
  }

  /** Moves the first dead letter with message ID `id` to its group's retry stream, as attempt 1. */
  async replayDeadLetter(id: string): Promise<boolean> {
    for await (const entry of this.#deadLetterEntries()) {
      const letter = toDeadLetter(entry);
      if (letter?.id !== id) continue;
      const keys = [this.keys.deadLetters, this.keys.retries(letter.stream, letter.info.group)];
      const done = await this.#host.command((redis) =>
        scripts.replay.run(redis, keys, [entry.entryID]),
      );
      if (done === 1) return true;
    }
    return false;
  }

  /** Stops every member and closes the connections, once Redis answered what was sent. */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    await Promise.allSettled([...this.#members].map((m) => m.close()));
    for (const member of this.#members) member.end();
    this.#members.clear();
    const command = this.#command;
    this.#command = undefined;
    await command?.quit().catch(() => undefined);
    command?.disconnect();
  }

  /** Drops every connection at once, as a crash would. */
  kill(): void {
    this.#closed.abort();
    for (const member of this.#members) member.end();
    this.#members.clear();
    this.#command?.disconnect();
    this.#command = undefined;
  }

  /** The command connection: opened on first use, then reconnecting for ever. */
  #connection(): Promise<Redis> {
    if (this.#closed.signal.aborted) {
      return Promise.reject(notConnected("redis"));
    }
    if (this.#command !== undefined) return Promise.resolve(this.#command);
    this.#opening ??= openConnection(this.settings.client, "streams", this.settings.logger).then(
      (redis) => {
        this.#opening = undefined;
        if (this.#closed.signal.aborted) redis.disconnect();
        else this.#command = redis;
        // "ready" from now on means "back after an outage".
        redis.on("ready", () => {
          for (const member of this.#members) member.reconnected();
        });
        return redis;
      },
      (err: unknown) => {
        this.#opening = undefined;
        throw err;
      },
    );
    return this.#opening;
  }

  /**
   * Runs `op` until Redis answers it: a settle lost to an outage would be redelivered later (a
   * duplicate), so it waits for the connection instead. Scripts check who holds the entry, so
   * running one twice does no harm. Gives up when the streams close.
   */
  async #settle<T>(op: (redis: Redis) => Promise<T>): Promise<T> {
    const { signal } = this.#closed;
    for (;;) {
      const redis = await this.#connection();
      corkBurst(redis);
      try {
        return await op(redis);
      } catch (err) {
        if (isReplyError(err) || signal.aborted) throw err;
        // Every settle waiting out the outage waits on one promise (not a listener each).
        this.#back ??= whenReady(redis, signal).finally(() => {
          this.#back = undefined;
        });
        await this.#back;
      }
    }
  }

  /** The dead letters' entries, oldest first, read in pages. */
  async *#deadLetterEntries(): AsyncGenerator<Entry> {
    const page = 500;
    let start = "-";
    for (;;) {
      const reply = await this.#host.command((redis) =>
        redis.callBuffer("XRANGE", this.keys.deadLetters, start, "+", "COUNT", page),
      );
      const entries = parseEntries(reply);
      yield* entries;
      const last = entries.at(-1);
      if (entries.length < page || last === undefined) return;
      start = `(${last.entryID}`;
    }
  }
}

function toDeadLetter(entry: Entry): DeadLetter | undefined {
  const [id, stream, group, data] = [
    field(entry, "id"),
    field(entry, "stream"),
    field(entry, "group"),
    entry.fields.get("data"),
  ];
  if (id === undefined || stream === undefined || group === undefined || data === undefined) {
    return undefined;
  }
  return {
    id,
    stream,
    data,
    info: {
      group,
      code: field(entry, "code") ?? "INTERNAL_ERROR",
      message: field(entry, "message") ?? "",
      attempts: Number(field(entry, "attempts") ?? 0),
      failedAt: Number(field(entry, "failedAt") ?? 0),
      nodeID: field(entry, "nodeID") ?? "",
    },
  };
}
