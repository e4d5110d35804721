import type { Redis } from "ioredis";
import type { DurableMessage, DurableSubscription } from "../durable.js";
import { pause, whenReady } from "./stream-connection.js";
import { type Entry, field, isNoGroup, isReplyError, parseEntries } from "./stream-keys.js";
import {
  HeldMessage,
  type MemberHost,
  type MemberRef,
  type Settlement,
  type Source,
  settleEntry,
} from "./stream-message.js";
import { claimIdle, moveDue, refreshHeld, release, tidy } from "./stream-sweep.js";

/** How long one read waits on the server for new entries. */
const BLOCK_MS = 5_000;

/**
 * One member of a consumer group: reads new entries of the event's stream and of the group's
 * retry stream (XREADGROUP on a connection of its own), never holding more than `concurrency`.
 * Every few seconds it keeps the entries it holds fresh, moves due retries back, claims entries
 * that a dead member left idle for `claimIdle` ms, and trims what every group has acknowledged.
 */
export class GroupMember implements DurableSubscription {
  readonly #ref: MemberRef;
  readonly #held = new Map<string, HeldMessage>();
  /** Read beyond `concurrency` (COUNT applies per stream, and two are read): handed over later. */
  readonly #backlog: { source: Source; entry: Entry; deliveries: number }[] = [];
  readonly #stop = new AbortController();
  readonly #interval: number;
  #reader: Redis | undefined;
  #readerID: number | undefined;
  #reading: Promise<void> = Promise.resolve();
  #blocked = false;
  #space: (() => void) | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #wake: { at: number; timer: NodeJS.Timeout } | undefined;
  #tidied = 0;
  #ended = false;

  constructor(
    private readonly host: MemberHost,
    readonly event: string,
    readonly group: string,
    readonly consumer: string,
    readonly concurrency: number,
    private readonly handler: (message: DurableMessage) => void,
  ) {
    const { keys } = host;
    this.#ref = {
      host,
      event,
      group,
      consumer,
      keys: {
        stream: keys.stream(event),
        retries: keys.retries(event, group),
        delayed: keys.delayed(event, group),
      },
    };
    // Held entries are refreshed at least twice within claimIdle, so a live holder keeps them.
    this.#interval = Math.min(5_000, Math.max(100, Math.floor(host.claimIdle / 3)));
  }

  /** Creates the group (if new) and starts reading and housekeeping. */
  async start(): Promise<void> {
    await this.host.command((redis) => this.#createGroups(redis));
    const reader = await this.host.openReader();
    reader.on("close", () => {
      this.#readerID = undefined;
    });
    this.#reader = reader;
    this.#reading = this.#read(reader);
    // At once: entries that a dead member left, and retries it left waiting, are due already.
    void this.#sweep();
  }

  /** Stops taking messages; those in hand can still be settled (and are kept fresh until then). */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#space?.();
    if (this.#wake !== undefined) clearTimeout(this.#wake.timer);
    let done = false;
    void this.#reading.then(() => {
      done = true;
    });
    // Interrupt the blocked read (it answers "nothing") rather than drop the connection: entries
    // it was returning at that moment still arrive, and are handled. The read may not have
    // reached the server yet, hence the few tries.
    for (let tries = 0; !done && tries < 50; tries++) {
      const id = this.#readerID;
      const unblocked =
        this.#blocked && id !== undefined
          ? await this.host.command((redis) => redis.client("UNBLOCK", id)).catch(() => -1)
          : 0;
      if (unblocked === -1) break;
      if (unblocked === 0) await Promise.race([this.#reading, pause(20)]);
    }
    if (!done) this.#reader?.disconnect();
    await this.#reading;
    await this.#reader?.quit().catch(() => undefined);
    // Read but never handed over: made claimable at once, for another member to take.
    const unread = this.#inHand().slice(this.#held.size);
    this.#backlog.length = 0;
    await release(this.#ref, unread).catch(() => undefined);
    if (this.#held.size > 0) return;
    this.end();
    // A graceful leave: forget this member, unless it holds entries (they get claimed).
    await tidy(this.#ref, 0, this.consumer).catch(() => undefined);
  }

  /**
   * The command connection is back after an outage: the held entries went without a refresh
   * meanwhile, so they are refreshed now, before another member's housekeeping takes them.
   */
  reconnected(): void {
    if (this.#ended || this.#held.size + this.#backlog.length === 0) return;
    refreshHeld(this.#ref, this.#inHand()).catch((err: unknown) =>
      this.host.logger.debug({ err, event: this.event }, "Refreshing held messages failed"),
    );
  }

  /** Stops everything at once (the streams are closing): held entries stay for others to claim. */
  end(): void {
    this.#ended = true;
    this.#stop.abort();
    this.#space?.();
    clearTimeout(this.#sweeper);
    if (this.#wake !== undefined) clearTimeout(this.#wake.timer);
    this.#reader?.disconnect();
  }

  async #createGroups(redis: Redis): Promise<void> {
    // New groups start at the end of the event's stream: they get what is emitted from now on.
    // A group's retry stream is its own; it starts at the beginning so nothing put there is missed.
    const create = (key: string, start: string) =>
      redis.call("XGROUP", "CREATE", key, this.group, start, "MKSTREAM").catch((err) => {
        if (!String((err as Error).message).startsWith("BUSYGROUP")) throw err;
      });
    await create(this.#ref.keys.stream, "$");
    await create(this.#ref.keys.retries, "0");
  }

  async #read(reader: Redis): Promise<void> {
    const { signal } = this.#stop;
    const { stream, retries } = this.#ref.keys;
    while (!signal.aborted) {
      const free = this.#free();
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.#space = resolve;
        });
        continue;
      }
      try {
        this.#readerID ??= await reader.client("ID");
        if (signal.aborted) return;
        this.#blocked = true;
        const reply = await reader.callBuffer(
          ...["XREADGROUP", "GROUP", this.group, this.consumer, "COUNT", free, "BLOCK", BLOCK_MS],
          ...["STREAMS", stream, retries, ">", ">"],
        );
        this.#blocked = false;
        if (!Array.isArray(reply)) continue;
        for (const [key, entries] of reply as [Buffer, unknown][]) {
          const source = key.toString() === stream ? "stream" : "retries";
          for (const entry of parseEntries(entries)) this.#deliver(source, entry, 1);
        }
      } catch (err) {
        this.#blocked = false;
        if (signal.aborted) return;
        if (isNoGroup(err)) {
          // The server lost the group (restarted without persistence): make it again.
          await this.host
            .command((redis) => this.#createGroups(redis))
            .catch(() => pause(1_000, signal));
        } else if (isReplyError(err)) {
          this.host.logger.error({ err, event: this.event }, "Reading a durable stream failed");
          await pause(1_000, signal);
        } else {
          await whenReady(reader, signal);
        }
      }
    }
  }

  /** Hands an entry to the handler; `deliveries` counts this one (1 on a first read). */
  #deliver(source: Source, entry: Entry, deliveries: number): void {
    const key = `${source}:${entry.entryID}`;
    // Claimed back by this very member: it is being handled (or about to be).
    if (this.#held.has(key) || this.#backlog.some((b) => `${b.source}:${b.entry.entryID}` === key))
      return;
    if (this.#held.size >= this.concurrency) {
      this.#backlog.push({ source, entry, deliveries });
      return;
    }
    const id = field(entry, "id");
    const data = entry.fields.get("data");
    if (id === undefined || data === undefined) {
      // Not written by Flotilla: there is nothing to hand over, so it is acknowledged and skipped.
      this.host.logger.warn(
        { event: this.event, entryID: entry.entryID },
        "Skipped a foreign entry",
      );
      const stream = this.#ref.keys[source];
      void this.host
        .command((redis) => redis.call("XACK", stream, this.group, entry.entryID))
        .catch(() => undefined);
      return;
    }
    // Entries of the retry stream carry the attempt they start at; claims add to the count.
    const attempt = Number(field(entry, "attempt") ?? "1") + deliveries - 1;
    const message = new HeldMessage(source, entry.entryID, id, data, attempt, (m, s) =>
      this.#settle(m, s),
    );
    this.#held.set(key, message);
    try {
      this.handler(message);
    } catch (err) {
      this.host.logger.error({ err, event: this.event }, "Durable handler threw");
    }
  }

  async #settle(m: HeldMessage, s: Settlement): Promise<void> {
    try {
      if (!(await settleEntry(this.#ref, m, s))) {
        this.host.logger.debug(
          { event: this.event, messageID: m.id },
          "Another member claimed the message meanwhile; it settles it",
        );
      } else if (s.kind === "retry") {
        this.#wakeIn(s.delay);
      }
    } finally {
      this.#held.delete(`${m.source}:${m.entryID}`);
      const next = this.#stop.signal.aborted ? undefined : this.#backlog.shift();
      if (next !== undefined) this.#deliver(next.source, next.entry, next.deliveries);
      const wake = this.#space;
      this.#space = undefined;
      wake?.();
    }
  }

  /** Housekeeping, every `#interval` ms; after close, only keeping held entries fresh. */
  async #sweep(): Promise<void> {
    const closing = this.#stop.signal.aborted;
    try {
      await refreshHeld(this.#ref, this.#inHand());
      if (!closing) {
        const next = await moveDue(this.#ref);
        if (next >= 0) this.#wakeIn(next);
        await claimIdle(
          this.#ref,
          () => (this.#stop.signal.aborted ? 0 : this.#free()),
          (source, entry, deliveries) => this.#deliver(source, entry, deliveries),
        );
        if (Date.now() - this.#tidied >= this.host.claimIdle) {
          this.#tidied = Date.now();
          await tidy(this.#ref, Math.max(10 * this.host.claimIdle, 60_000));
        }
      }
    } catch (err) {
      this.host.logger.debug({ err, event: this.event }, "Durable stream housekeeping failed");
    }
    if (this.#ended || (closing && this.#held.size === 0)) return;
    this.#sweeper = setTimeout(() => void this.#sweep(), this.#interval);
    this.#sweeper.unref();
  }

  /** The entries this member holds: handed over, then waiting in the backlog. */
  #inHand(): { source: Source; entryID: string }[] {
    const waiting = this.#backlog.map((b) => ({ source: b.source, entryID: b.entry.entryID }));
    return [...this.#held.values(), ...waiting];
  }

  /** How many more entries this member may take now. */
  #free(): number {
    return this.concurrency - this.#held.size - this.#backlog.length;
  }

  /** Moves due retries back in `ms` (or sooner, when another wake-up is due first). */
  #wakeIn(ms: number): void {
    const at = Date.now() + ms;
    if (this.#stop.signal.aborted || (this.#wake !== undefined && this.#wake.at <= at)) return;
    if (this.#wake !== undefined) clearTimeout(this.#wake.timer);
    const timer = setTimeout(() => {
      this.#wake = undefined;
      moveDue(this.#ref).then(
        (next) => {
          if (next >= 0) this.#wakeIn(next);
        },
        (err: unknown) => this.host.logger.debug({ err }, "Moving due retries failed"),
      );
    }, ms);
    timer.unref();
    this.#wake = { at, timer };
  }
}
