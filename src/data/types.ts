import type { Kysely, Transaction } from "kysely";
import type { Migration } from "kysely/migration";
import type { Meta, ParentContext } from "../service/call-types.js";
import type { EventMap, ParamsArgs } from "../service/typed.js";

/**
 * The public types of a service's database: what `defineDatabase` declares, what handlers get
 * (`ctx.db`, `ctx.transaction`) and what `broker.health()` reports. Imports no runtime code, so
 * the service types can use it without loading a database driver.
 */

/** Where a service's migrations come from: named migrations, or a folder of migration files. */
export type MigrationSource = Readonly<Record<string, Migration>> | string | URL;

/** Relay settings of the transactional outbox. */
export interface OutboxOptions {
  /**
   * Publish from this node (default `true`). `false` only writes the outbox: another instance,
   * or a process started just to relay, publishes.
   */
  relay?: boolean;
  /** How often the relay looks for events a crashed process left, in ms. Default 1 000. */
  pollInterval?: number;
  /** Events claimed per round. Default 100. */
  batchSize?: number;
  /**
   * How long a claimed event stays with its relay before another may publish it, in ms.
   * Default 30 000. A restarted node takes back its own claims at once.
   */
  lease?: number;
}

/** What a service declares about its database (all optional). */
export interface DatabaseOptions {
  /** Migrations run at start, in name order (Kysely's `Migrator`). */
  migrations?: MigrationSource;
  /**
   * The database: `postgres://…` (PostgreSQL), `sqlite:<file>` or `sqlite::memory:`. Default:
   * `$FLOTILLA_DB_URL_<SERVICE>`, this, `$FLOTILLA_DB_URL`, the broker's `database.url`, then
   * a SQLite file `<dir>/<service>.sqlite` (docs/data.md).
   */
  url?: string;
  /** PostgreSQL: the schema the service's tables live in. Default: the service name. */
  schema?: string;
  /** PostgreSQL: connections in the pool. Default 10. */
  poolSize?: number;
  /** Longest a statement may run, in ms (PostgreSQL `statement_timeout`). Default 30 000. */
  statementTimeout?: number;
  /** Run pending migrations when the service starts (one instance at a time). Default `true`. */
  migrateOnStart?: boolean;
  /** Outbox relay settings. */
  outbox?: OutboxOptions;
  /** How long message IDs stay in the inbox, in ms. Default 7 days. */
  inboxRetention?: number;
}

declare const DATABASE_TYPE: unique symbol;

/**
 * A service's database as `defineDatabase<DB>()` declares it: its options, and (at the type
 * level only) the Kysely `Database` type that types `ctx.db`.
 */
export interface DatabaseDeclaration<DB> extends DatabaseOptions {
  /** Carries the row types; never set at run time. */
  readonly [DATABASE_TYPE]?: (db: DB) => DB;
}

/** Options of an event written to the outbox. */
export interface OutboxEmitOptions {
  /**
   * Events with the same key are published in the order their transactions committed.
   * Default: the event name.
   */
  key?: string;
  /** Merged over the context's meta. */
  meta?: Meta;
  /** Headers that travel with the event, merged over the context's. */
  headers?: Record<string, string>;
  /** The durable message's ID. Default: a new UUID, kept in the outbox row. */
  messageID?: string;
}

type EventPayload<E> = E extends keyof EventMap ? EventMap[E] : never;

/** `tx.emit`: stores the event in the outbox, in the transaction; typed like `broker.emit`. */
export interface OutboxEmitFn {
  <E extends keyof EventMap & string>(
    event: E,
    ...args: ParamsArgs<EventPayload<E>, OutboxEmitOptions>
  ): Promise<void>;
  <E extends string>(
    event: E & ([E] extends [keyof EventMap] ? never : unknown),
    payload?: unknown,
    opts?: OutboxEmitOptions,
  ): Promise<void>;
}

/** One transaction: its typed query builder, and `emit`, which stores events in the outbox. */
export interface TransactionScope<DB> {
  /** Queries in this transaction. */
  readonly db: Transaction<DB>;
  /** Stores an event in the outbox; it is published once the transaction commits. */
  readonly emit: OutboxEmitFn;
}

/** Options of one transaction. */
export interface TransactionOptions {
  /** PostgreSQL isolation level. Default: the server's (read committed). */
  isolation?: "read committed" | "repeatable read" | "serializable";
}

/**
 * What a service with a database adds to its handlers' `ctx` (and to the service instance).
 *
 * @example
 * ```ts
 * async handler(ctx) {
 *   return ctx.transaction(async (tx) => {
 *     const order = await tx.db.insertInto("orders").values(row).returningAll().executeTakeFirstOrThrow();
 *     await tx.emit("orders.created", { id: order.id });
 *     return order;
 *   });
 * }
 * ```
 */
export interface DataContext<DB> {
  /**
   * The service's database (Kysely). Inside an `inbox: true` handler and a `transaction`
   * callback it is that transaction.
   */
  readonly db: Kysely<DB>;
  /**
   * Runs `fn` in a transaction; events it emits with `tx.emit` go to the outbox and are
   * published after the commit. A throw rolls back rows and events alike. Called inside another
   * transaction of the same context, it joins that one.
   */
  transaction<R>(
    fn: (tx: TransactionScope<DB>) => Promise<R>,
    opts?: TransactionOptions,
  ): Promise<R>;
}

/** What a declaration adds to contexts: nothing without a database. */
export type DataContextOf<DB> = [DB] extends [never] ? unknown : DataContext<DB>;

/** The outbox of one service, as `broker.health()` reports it. */
export interface OutboxHealth {
  /** Events committed and not yet published. */
  backlog: number;
  /** Age of the oldest of them, in ms (0 when none). */
  oldestAge: number;
  /** Events the message broker refused for good (see the logs); they stay in the table. */
  failed: number;
  /** Events published since start. */
  published: number;
}

/** One service's database in `broker.health()`. */
export interface DatabaseHealth {
  dialect: "sqlite" | "postgres";
  /** Where: a file path, or the server's host, port, database and schema (no credentials). */
  location: string;
  /** Answered the last probe (taken with every outbox round). */
  ok: boolean;
  /** The last probe's error code, when it failed. */
  error?: string;
  /** PostgreSQL pool: connections open, idle, and callers waiting for one. */
  pool?: { size: number; idle: number; waiting: number; max: number };
  outbox: OutboxHealth;
}

/**
 * A service's open database as the broker's contexts reach it (`ctx.db`, `ctx.transaction`,
 * `service.db`). Untyped here: the handler's `ctx` type carries the row types.
 */
export interface DataAccess {
  /** The query builder for `ctx`: the transaction it runs in, if any, else the database. */
  dbFor(ctx: ParentContext | undefined): unknown;
  /**
   * `ctx.transaction(fn)`: joins the transaction the running code is in, unless `own` (the
   * inbox's transaction, which commits with its handler's writes alone).
   */
  transaction(
    ctx: ParentContext | undefined,
    fn: (tx: TransactionScope<unknown>) => Promise<unknown>,
    opts: TransactionOptions | undefined,
    own?: boolean,
  ): Promise<unknown>;
  /** What `broker.health()` shows of it. */
  health(): DatabaseHealth;
}
