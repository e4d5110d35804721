import { randomUUID } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import { PacketTooLargeError } from "../../errors/index.js";
import type { Meta, ParentContext } from "../../service/call-types.js";
import type { OutboxEmitOptions } from "../types.js";
import type { FlotillaTables, OutboxRow } from "./schema.js";

/** An event written by `tx.emit`, waiting for the end of its transaction. */
export type NewOutboxRow = Omit<
  OutboxRow,
  "id" | "attempts" | "lease_owner" | "lease_until" | "failed_at" | "last_error"
>;

/**
 * Builds the outbox row of one `tx.emit`: the payload and the emitting context's chain (meta,
 * headers, IDs, level), so the relay publishes the event as if the context had emitted it.
 */
export function outboxRow(
  parent: ParentContext | undefined,
  caller: string | undefined,
  event: string,
  payload: unknown,
  opts: OutboxEmitOptions | undefined,
  maxSize: number,
): NewOutboxRow {
  const meta: Meta =
    parent === undefined
      ? (opts?.meta ?? {})
      : opts?.meta === undefined
        ? parent.meta
        : { ...parent.meta, ...opts.meta };
  const headers =
    parent?.headers === undefined ? opts?.headers : { ...parent.headers, ...opts?.headers };
  const body = JSON.stringify(payload ?? null);
  const metaText = JSON.stringify(meta);
  const headersText = headers === undefined ? null : JSON.stringify(headers);
  // In bytes, as the transporter counts them (a string's length undercounts non-ASCII text), and
  // with the meta and headers the event carries: what would be refused at publish is refused here.
  const size =
    Buffer.byteLength(body) + Buffer.byteLength(metaText) + Buffer.byteLength(headersText ?? "");
  if (size > maxSize) throw new PacketTooLargeError(size, maxSize);
  return {
    message_id: opts?.messageID ?? randomUUID(),
    event,
    key: opts?.key ?? event,
    payload: body,
    meta: metaText,
    headers: headersText,
    request_id: parent?.requestID ?? randomUUID(),
    parent_id: parent?.id ?? null,
    level: parent?.level ?? 0,
    caller: caller ?? null,
    created_at: Date.now(),
  };
}

/** Writes a transaction's events, in the order they were emitted. */
export async function insertOutbox(
  trx: Transaction<FlotillaTables>,
  rows: readonly NewOutboxRow[],
): Promise<void> {
  await trx
    .insertInto("flotilla_outbox")
    .values([...rows])
    .execute();
}

/** What the relay takes in one round. */
export interface Claim {
  rows: OutboxRow[];
}

/**
 * The outbox table's queries for the relay. A claim is a short transaction: take the oldest
 * unclaimed rows (skipping rows another relay is claiming right now, on PostgreSQL), drop every
 * key whose oldest row is not among them (another relay holds it: publishing ours first would
 * break the key's order), and lease the rest to this relay. The lease is what keeps two relays
 * from publishing the same row; a relay that dies loses it when it expires, or at once when its
 * node restarts under the same ID.
 */
export class OutboxStore {
  constructor(
    private readonly db: Kysely<FlotillaTables>,
    private readonly dialect: "sqlite" | "postgres",
  ) {}

  /**
   * Leases up to `batchSize` of the oldest free rows to `owner`. `reclaim` (a relay's first
   * claim) also takes rows still leased to `owner`: left by this node before a restart. Later
   * claims leave them alone — they are this relay's, in flight — and take a key while its
   * earlier rows are all in flight here, since this relay issues its publishes in order.
   */
  async claim(
    owner: string,
    batchSize: number,
    lease: number,
    reclaim: boolean,
  ): Promise<OutboxRow[]> {
    return this.db.transaction().execute(async (trx) => {
      const now = Date.now();
      let query = trx
        .selectFrom("flotilla_outbox")
        .selectAll()
        .where("failed_at", "is", null)
        .where((eb) =>
          eb.or([
            eb("lease_until", "is", null),
            eb("lease_until", "<", now),
            ...(reclaim ? [eb("lease_owner", "=", owner)] : []),
          ]),
        )
        .orderBy("id")
        .limit(batchSize);
      if (this.dialect === "postgres") query = query.forUpdate().skipLocked();
      const candidates = await query.execute();
      if (candidates.length === 0) return [];
      const keys = [...new Set(candidates.map((r) => r.key))];
      const last = candidates[candidates.length - 1]!.id;
      // Every row of those keys up to our last candidate that is not in flight here, in order:
      // a key's candidates are taken only while they follow one another in it. A row before or
      // between them that we do not have (another relay holds it or is claiming it, skipped by
      // SKIP LOCKED) ends the key's run: publishing past it would break the key's order.
      let pendingQuery = trx
        .selectFrom("flotilla_outbox")
        .select(["id", "key"])
        .where("failed_at", "is", null)
        .where("key", "in", keys)
        .where("id", "<=", last);
      if (!reclaim) {
        pendingQuery = pendingQuery.where((eb) =>
          eb.or([
            eb("lease_owner", "is", null),
            eb("lease_owner", "<>", owner),
            eb("lease_until", "<", now),
          ]),
        );
      }
      const pending = await pendingQuery.orderBy("id").execute();
      const mine = new Set(candidates.map((r) => String(r.id)));
      const runs = new Map<string, Set<string>>();
      const ended = new Set<string>();
      for (const row of pending) {
        if (ended.has(row.key)) continue;
        const id = String(row.id);
        if (!mine.has(id)) {
          ended.add(row.key);
          continue;
        }
        const run = runs.get(row.key) ?? new Set<string>();
        runs.set(row.key, run);
        run.add(id);
      }
      const rows = candidates.filter((row) => runs.get(row.key)?.has(String(row.id)) === true);
      if (rows.length === 0) return [];
      await trx
        .updateTable("flotilla_outbox")
        .set({ lease_owner: owner, lease_until: now + lease })
        .where(
          "id",
          "in",
          rows.map((r) => r.id),
        )
        .execute();
      return rows;
    });
  }

  /** Published: the rows go. */
  async remove(ids: readonly (number | string)[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .deleteFrom("flotilla_outbox")
      .where("id", "in", [...ids])
      .execute();
  }

  /** Not published this time: free the rows for the next round. */
  async release(ids: readonly (number | string)[], error: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable("flotilla_outbox")
      .set((eb) => ({
        lease_owner: null,
        lease_until: null,
        attempts: eb("attempts", "+", 1),
        last_error: error,
      }))
      .where("id", "in", [...ids])
      .execute();
  }

  /** Refused for good (too large, say): kept aside, out of the relay's way. */
  async fail(ids: readonly (number | string)[], error: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable("flotilla_outbox")
      .set({ failed_at: Date.now(), last_error: error, lease_owner: null, lease_until: null })
      .where("id", "in", [...ids])
      .execute();
  }

  /** Backlog, the oldest waiting event's time, and failed rows. */
  async stats(): Promise<{ backlog: number; oldest: number | undefined; failed: number }> {
    const row = await this.db
      .selectFrom("flotilla_outbox")
      .select((eb) => [
        eb.fn.countAll<number | string>().as("total"),
        // Of what waits: a failed row waits for no one, and would age the backlog forever.
        eb.fn.min("created_at").filterWhere("failed_at", "is", null).as("oldest"),
        eb.fn.count<number | string>("failed_at").as("failed"),
      ])
      .executeTakeFirstOrThrow();
    const failed = Number(row.failed);
    return {
      backlog: Number(row.total) - failed,
      oldest: row.oldest === null ? undefined : Number(row.oldest),
      failed,
    };
  }

  /** Drops inbox entries older than `before` (epoch ms). */
  async pruneInbox(before: number): Promise<void> {
    await this.db.deleteFrom("flotilla_inbox").where("handled_at", "<", before).execute();
  }
}
