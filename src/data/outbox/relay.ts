import { FlotillaError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { EmitOptions, ParentContext } from "../../service/call-types.js";
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
  /** Called after each round with the outcome of the table probe (health). */
  readonly probed: (error: unknown) => void;
  /** Runs now and then (once a minute) with the relay: inbox pruning. */
  readonly housekeeping: () => Promise<void>;
}

const HOUSEKEEPING_EVERY = 60_000;
/** Rounds come with every commit under load; the backlog count is taken at most this often. */
const PROBE_EVERY = 250;

/**
 * Moves committed events from the outbox to the message broker: at once when this process
 * committed some (`kick`), and every `pollInterval` for what a crashed process left or a failed
 * publish put back. One round at a time; a round claims a batch, publishes each key's events in
 * order (keys side by side), then deletes what the broker confirmed and frees the rest.
 */
export class OutboxRelay {
  readonly #deps: RelayDeps;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #lastHousekeeping = 0;
  #lastProbe = 0;
  readonly #health: OutboxHealth = { backlog: 0, oldestAge: 0, failed: 0, published: 0 };

  constructor(deps: RelayDeps) {
    this.#deps = deps;
  }

  get health(): OutboxHealth {
    return { ...this.#health };
  }

  start(): void {
    this.#stopped = false;
    this.#lastHousekeeping = Date.now();
    this.kick();
  }

  /** Asks for a round now (coalesced with one already running). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#round !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#round = this.#run().finally(() => {
      this.#round = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else {
        this.#timer = setTimeout(() => this.kick(), this.#deps.pollInterval);
        this.#timer.unref();
      }
    });
  }

  /** Stops after the round in hand; what it has not published stays in the table. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  async #run(): Promise<void> {
    try {
      // Keep going while rounds come back full: a backlog drains without waiting for the timer.
      while (!this.#stopped && (await this.#once()) === this.#deps.batchSize) {}
      if (Date.now() - this.#lastProbe >= PROBE_EVERY) await this.#probe();
      if (Date.now() - this.#lastHousekeeping > HOUSEKEEPING_EVERY) {
        this.#lastHousekeeping = Date.now();
        await this.#deps.housekeeping();
      }
      this.#deps.probed(undefined);
    } catch (err) {
      this.#deps.probed(err);
      this.#deps.logger.warn(
        { err },
        "The outbox relay could not reach the database; it will try again",
      );
    }
  }

  async #once(): Promise<number> {
    const { store, owner, batchSize, lease } = this.#deps;
    const rows = await store.claim(owner, batchSize, lease);
    if (rows.length === 0) return 0;
    const byKey = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const list = byKey.get(row.key);
      if (list === undefined) byKey.set(row.key, [row]);
      else list.push(row);
    }
    const sent: (number | string)[] = [];
    const retry: (number | string)[] = [];
    const refused: (number | string)[] = [];
    let lastError = "";
    await Promise.all(
      [...byKey.values()].map(async (list) => {
        // Issued in order on one connection, so the broker keeps the key's order; awaited together.
        const outcomes = await Promise.allSettled(list.map((row) => this.#publish(row)));
        outcomes.forEach((outcome, i) => {
          const id = list[i]!.id;
          if (outcome.status === "fulfilled") sent.push(id);
          else {
            const err = outcome.reason as unknown;
            lastError = err instanceof FlotillaError ? err.code : String(err);
            if (err instanceof FlotillaError && !err.retryable) refused.push(id);
            else retry.push(id);
            if (!(err instanceof FlotillaError) || !err.retryable) {
              this.#deps.logger.error(
                { err, event: list[i]!.event, messageID: list[i]!.message_id },
                "The message broker refused an outbox event; it stays in the outbox as failed",
              );
            }
          }
        });
      }),
    );
    await store.remove(sent);
    await store.release(retry, lastError);
    await store.fail(refused, lastError);
    this.#health.published += sent.length;
    this.#health.backlog = Math.max(0, this.#health.backlog - sent.length - refused.length);
    this.#health.failed += refused.length;
    if (retry.length > 0) {
      this.#deps.logger.warn(
        { events: retry.length, code: lastError },
        "Outbox events could not be published; the relay tries again",
      );
      return 0;
    }
    return rows.length;
  }

  #publish(row: OutboxRow): Promise<void> {
    const meta = JSON.parse(row.meta) as Record<string, unknown>;
    const headers =
      row.headers === null ? undefined : (JSON.parse(row.headers) as Record<string, string>);
    const parentCtx: ParentContext = {
      name: row.event,
      id: row.parent_id ?? row.message_id,
      requestID: row.request_id,
      level: Number(row.level),
      meta,
      headers,
      deadline: 0,
      remaining: Number.POSITIVE_INFINITY,
      service: row.caller === null ? undefined : { fullName: row.caller },
    };
    return this.#deps.publish(row.event, JSON.parse(row.payload) as unknown, {
      durable: true,
      messageID: row.message_id,
      parentCtx,
    });
  }

  async #probe(): Promise<void> {
    this.#lastProbe = Date.now();
    const stats = await this.#deps.store.stats();
    this.#health.backlog = stats.backlog;
    this.#health.failed = stats.failed;
    this.#health.oldestAge =
      stats.oldest === undefined ? 0 : Math.max(0, Date.now() - stats.oldest);
  }
}
