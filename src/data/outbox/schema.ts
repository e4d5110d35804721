import { type Generated, type Kysely, type Selectable, sql } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Flotilla's own tables in a service's database: the outbox (events committed with the service's
 * rows, waiting to be published) and the inbox (message IDs of events already handled). They are
 * created by migrations of their own (table `flotilla_migration`), next to the service's.
 */

/** One outbox row as Kysely sees it. */
export interface OutboxTable {
  id: Generated<number | string>;
  message_id: string;
  event: string;
  key: string;
  /** The payload, meta and headers as JSON. */
  payload: string;
  meta: string;
  headers: string | null;
  request_id: string;
  parent_id: string | null;
  /** The emitting context's level: the event's is one more. */
  level: number;
  caller: string | null;
  created_at: number | string;
  attempts: Generated<number>;
  lease_owner: string | null;
  lease_until: number | string | null;
  failed_at: number | string | null;
  last_error: string | null;
}

/** An outbox row as read. */
export type OutboxRow = Selectable<OutboxTable>;

/** One inbox row. */
export interface InboxRow {
  message_id: string;
  handled_at: number | string;
}

/** The tables as a Kysely database type. */
export interface FlotillaTables {
  flotilla_outbox: OutboxTable;
  flotilla_inbox: InboxRow;
}

/** The migrations of Flotilla's tables, for a dialect. */
export function internalMigrations(dialect: "sqlite" | "postgres"): Record<string, Migration> {
  const id =
    dialect === "postgres" ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
  return {
    "0001_outbox": {
      async up(db: Kysely<unknown>) {
        await sql`create table flotilla_outbox (
          id ${id},
          message_id text not null unique,
          event text not null,
          key text not null,
          payload text not null,
          meta text not null,
          headers text,
          request_id text not null,
          parent_id text,
          level integer not null,
          caller text,
          created_at bigint not null,
          attempts integer not null default 0,
          lease_owner text,
          lease_until bigint,
          failed_at bigint,
          last_error text
        )`.execute(db);
        await sql`create index flotilla_outbox_key on flotilla_outbox (key, id)`.execute(db);
      },
      async down(db: Kysely<unknown>) {
        await sql`drop table flotilla_outbox`.execute(db);
      },
    },
    "0002_inbox": {
      async up(db: Kysely<unknown>) {
        await sql`create table flotilla_inbox (
          message_id text primary key,
          handled_at bigint not null
        )`.execute(db);
        await sql`create index flotilla_inbox_handled on flotilla_inbox (handled_at)`.execute(db);
      },
      async down(db: Kysely<unknown>) {
        await sql`drop table flotilla_inbox`.execute(db);
      },
    },
  };
}
