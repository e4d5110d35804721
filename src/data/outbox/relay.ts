import { context, ROOT_CONTEXT } from "@opentelemetry/api";
import { FlotillaError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { EmitOptions, ParentContext } from "../../service/call-types.js";
import { tracePublish } from "../tracing.js";
import type { OutboxHealth } from "../types.js";
import type { OutboxRow } from "./schema.js";
import type { OutboxStore } from "./store.js";

/** Publishes one event durably; resolves once the message broker has it. */
export type Publish = (event: string, payload: unknown, opts: EmitOptions) => Promise<void>;

/** What the relay needs. */
export interface RelayDeps {
  readonly store: OutboxStore;
  readonly publish: Publish;
  /** The relay's lease name: the node ID, so a restarted node takes its claims back at once. */
  readonly owner: string;
  readonly logger: Logger;
  readonly pollInterval: number;
  readonly batchSize: number;
  readonly lease: number;
  /** Called after each probe of the table (health). */
  readonly probed: (error: unknown) => void;
  /** Runs now and then (once a minute) with the relay: inbox pruning. */
  readonly housekeeping: () => Promise<void>;
}

const HOUSEKEEPING_EVERY = 60_000;
/** Rounds whose publishes may wait for the broker's confirms at once. */
const MAX_ROUNDS = 4;
/** After a failed publish, rounds wait this long, doubling up to `pollInterval` (at least 1 s). */
const FIRST_BACKOFF = 50;

/**
 * Moves committed events from the outbox to the message broker: at once when this process
 * committed some (`kick`), and every `pollInterval` for what a crashed process left or a failed
 * publish put back. A round claims a batch, publishes each key's events in order (keys side by
 * side), then deletes what the broker confirmed and frees the rest. Up to {@link MAX_ROUNDS}
 * rounds wait for confirms at once, so the next commits go out while the last ones are being
 * confirmed; a later round takes a key only when its earlier rows are all this relay's, in
 * flight, so the broker still gets each key's events in order. After a failed publish the relay
 * backs off instead of claiming again on every commit.
 */
export class OutboxRelay {
  readonly #deps: RelayDeps;
  #timer: NodeJS.Timeout | undefined;
  readonly #rounds = new Set<Promise<void>>();
  #again = false;
  #stopped = true;
  /** The first claim takes back this node's leases left from before a restart. */
  #reclaim = true;
  #backoff = 0;
  #pausedUntil = 0;
  #failing = false;
  #publishing = true;
  #probing: Promise<void> | undefined;
  #lastHousekeeping = 0;
  readonly #health: OutboxHealth = { backlog: 0, oldestAge: 0, failed: 0, published: 0 };

  constructor(deps: RelayDeps) {
    this.#deps = deps;
  }

  get health(): OutboxHealth {
    return { ...this.#health };
  }

  /**
   * Starts publishing (or, with `publish: false`, only probing the table for health: another
   * instance publishes).
   */
  start(opts: { publish?: boolean } = {}): void {
    this.#stopped = false;
    this.#publishing = opts.publish ?? true;
    this.#lastHousekeeping = Date.now();
    this.#tick();
  }

  /** Asks for a round now (coalesced with those running; deferred while backing off). */
  kick(): void {
    if (this.#stopped || !this.#publishing) return;
    if (this.#rounds.size >= MAX_ROUNDS || Date.now() < this.#pausedUntil) {
      this.#again = true;
      return;
    }
    this.#again = false;
    // A round belongs to no request: kicked from a handler after its commit, it would otherwise
    // run (and trace its queries) inside that handler's span. Each row's `send` span continues
    // the trace of the request that wrote it instead.
    const round = context
      .with(ROOT_CONTEXT, () => this.#round())
      .finally(() => {
        this.#rounds.delete(round);
        if (this.#again && !this.#stopped) this.kick();
      });
    this.#rounds.add(round);
  }

  /** Stops after the rounds in hand; what they have not published stays in the table. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#rounds, this.#probing]);
  }

  /** The poll: a round for leftovers, the health probe, housekeeping; then again after the interval. */
  #tick(): void {
    if (this.#stopped) return;
    this.kick();
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = undefined;
    });
    const wait =
      Math.max(0, Math.min(this.#deps.pollInterval, this.#pausedUntil - Date.now())) ||
      this.#deps.pollInterval;
    this.#timer = setTimeout(() => this.#tick(), wait);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    const { store, owner, batchSize, lease } = this.#deps;
    let rows: OutboxRow[];
    // Only the first claim, made before any round is in flight, takes back this node's leases.
    const reclaim = this.#reclaim;
    this.#reclaim = false;
    try {
      rows = await store.claim(owner, batchSize, lease, reclaim);
    } catch (err) {
      this.#reclaim ||= reclaim;
      this.#deps.probed(err);
      this.#deps.logger.warn(
        { err },
        "The outbox relay could not reach the database; it will try again",
      );
      this.#pause();
      return;
    }
    if (rows.length === 0) return;
    // A full batch: there is more; start the next round while this one waits for its confirms.
    if (rows.length === batchSize) this.#again = true;
    if (this.#again && this.#rounds.size < MAX_ROUNDS) queueMicrotask(() => this.kick());
    const { sent, retry, refused, error } = await this.#publishAll(rows);
    try {
      await store.remove(sent);
      await store.release(retry, error);
      await store.fail(refused, error);
    } catch (err) {
      // The rows stay leased; the lease ends and they are published again (same message IDs).
      this.#deps.logger.warn({ err }, "The outbox relay could not record what it published");
    }
    this.#health.published += sent.length;
    this.#health.failed += refused.length;
    this.#health.backlog = Math.max(0, this.#health.backlog - sent.length - refused.length);
    if (retry.length > 0) {
      if (!this.#failing) {
        this.#deps.logger.warn(
          { events: retry.length, code: error },
          "Outbox events could not be published; they wait in the outbox and the relay tries again",
        );
      }
      this.#failing = true;
      this.#pause();
    } else {
      // Published (or set aside) all it claimed: the next failure backs off from the start.
      this.#backoff = 0;
      if (this.#failing) {
        this.#failing = false;
        this.#deps.logger.info("The outbox relay publishes again");
      }
    }
  }

  /** Backs off: no round before the delay, which doubles up to the poll interval (or 1 s). */
  #pause(): void {
    const cap = Math.max(this.#deps.pollInterval, 1_000);
    this.#backoff = this.#backoff === 0 ? FIRST_BACKOFF : Math.min(cap, this.#backoff * 2);
    this.#pausedUntil = Date.now() + this.#backoff;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), this.#backoff);
    this.#timer.unref();
  }

  async #publishAll(rows: readonly OutboxRow[]) {
    const byKey = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const list = byKey.get(row.key);
      if (list === undefined) byKey.set(row.key, [row]);
      else list.push(row);
    }
    const sent: (number | string)[] = [];
    const retry: (number | string)[] = [];
    const refused: (number | string)[] = [];
    let error = "";
    await Promise.all(
      [...byKey.values()].map(async (list) => {
        // Issued in order on one connection, so the broker keeps the key's order; awaited together.
        const outcomes = await Promise.allSettled(list.map((row) => this.#publish(row)));
        outcomes.forEach((outcome, i) => {
          const row = list[i]!;
          if (outcome.status === "fulfilled") {
            sent.push(row.id);
            return;
          }
          const err = outcome.reason as unknown;
          error = err instanceof FlotillaError ? err.code : String(err);
          if (err instanceof FlotillaError && err.retryable) {
            retry.push(row.id);
            return;
          }
          refused.push(row.id);
          this.#deps.logger.error(
            { err, event: row.event, messageID: row.message_id },
            "The message broker refused an outbox event; it stays in the outbox as failed",
          );
        });
      }),
    );
    return { sent, retry, refused, error };
  }

  #publish(row: OutboxRow): Promise<void> {
    const meta = JSON.parse(row.meta) as Record<string, unknown>;
    const headers =
      row.headers === null ? undefined : (JSON.parse(row.headers) as Record<string, string>);
    return tracePublish(row, headers, (traced) => {
      const parentCtx: ParentContext = {
        name: row.event,
        id: row.parent_id ?? row.message_id,
        requestID: row.request_id,
        level: Number(row.level),
        meta,
        headers: traced,
        deadline: 0,
        remaining: Number.POSITIVE_INFINITY,
        service: row.caller === null ? undefined : { fullName: row.caller },
      };
      return this.#deps.publish(row.event, JSON.parse(row.payload) as unknown, {
        durable: true,
        messageID: row.message_id,
        parentCtx,
      });
    });
  }

  /** Counts the backlog (health) and, once a minute, prunes the inbox. */
  async #probe(): Promise<void> {
    try {
      const stats = await this.#deps.store.stats();
      this.#health.backlog = stats.backlog;
      this.#health.failed = stats.failed;
      this.#health.oldestAge =
        stats.oldest === undefined ? 0 : Math.max(0, Date.now() - stats.oldest);
      if (Date.now() - this.#lastHousekeeping > HOUSEKEEPING_EVERY) {
        this.#lastHousekeeping = Date.now();
        await this.#deps.housekeeping();
      }
      this.#deps.probed(undefined);
    } catch (err) {
      this.#deps.probed(err);
    }
  }
}
