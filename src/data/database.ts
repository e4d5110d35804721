import { AsyncLocalStorage } from "node:async_hooks";
import { Kysely, sql, type Transaction } from "kysely";
import type { Logger } from "../observability/logger.js";
import type { ParentContext } from "../service/call-types.js";
import {
  type BrokerDatabaseOptions,
  type DatabaseTarget,
  describeTarget,
  resolveTarget,
} from "./config.js";
import { INTERNAL_TABLES, ServiceMigrator } from "./migrations.js";
import { OutboxRelay, type Publish } from "./outbox/relay.js";
import { type FlotillaTables, internalMigrations } from "./outbox/schema.js";
import { insertOutbox, type NewOutboxRow, OutboxStore, outboxRow } from "./outbox/store.js";
import { openPostgres } from "./postgres.js";
import { openSqlite } from "./sqlite.js";
import { traceOutboxWrite } from "./tracing.js";
import type {
  DataAccess,
  DatabaseHealth,
  DatabaseOptions,
  OutboxEmitOptions,
  TransactionOptions,
  TransactionScope,
} from "./types.js";

/** What opening a service's database needs from its node. */
export interface DatabaseHost {
  /** The service's full name (`v2.orders`). */
  readonly service: string;
  readonly nodeID: string;
  readonly logger: Logger;
  /** Publishes an outbox event (the broker's durable `emit`). */
  readonly publish: Publish;
  /** The broker's `maxPacketSize`: larger events are refused in the transaction. */
  readonly maxPacketSize: number;
  /** The broker's `database` defaults. */
  readonly defaults: BrokerDatabaseOptions | undefined;
}

/**
 * The transaction a piece of code runs in, if any (so `ctx.db` and nested calls join it). Work
 * started inside the callback and still running after it (a handler of an event emitted there,
 * a retry of it) carries this store on: once the transaction is over (`done`) it is not joined.
 */
interface Active {
  readonly database: ServiceDatabase;
  readonly scope: TransactionScope<unknown>;
  done: boolean;
}

const active = new AsyncLocalStorage<Active>();

const DEFAULTS = {
  poolSize: 10,
  statementTimeout: 30_000,
  pollInterval: 1_000,
  batchSize: 100,
  lease: 30_000,
  inboxRetention: 7 * 24 * 3600_000,
};

/**
 * One service's database on one node: the Kysely instance, the migrations, transactions with
 * their outbox events, and the relay that publishes them. Opened by the broker before the
 * service's `started` hook, closed after its `stopped` hook.
 */
export class ServiceDatabase implements DataAccess {
  readonly relay: OutboxRelay;
  #ok = true;
  #error: string | undefined;

  private constructor(
    readonly kysely: Kysely<FlotillaTables>,
    readonly target: DatabaseTarget,
    private readonly host: DatabaseHost,
    private readonly options: DatabaseOptions,
    private readonly pool:
      | { totalCount: number; idleCount: number; waitingCount: number }
      | undefined,
    /** PostgreSQL: the relay's own connection, apart from the handlers' pool. */
    private readonly relayKysely: Kysely<FlotillaTables> | undefined = undefined,
  ) {
    const outbox = options.outbox ?? {};
    const retention = options.inboxRetention ?? DEFAULTS.inboxRetention;
    const store = new OutboxStore(relayKysely ?? kysely, target.dialect);
    this.relay = new OutboxRelay({
      store,
      publish: host.publish,
      owner: host.nodeID,
      logger: host.logger,
      pollInterval: outbox.pollInterval ?? DEFAULTS.pollInterval,
      batchSize: outbox.batchSize ?? DEFAULTS.batchSize,
      lease: outbox.lease ?? DEFAULTS.lease,
      probed: (err) => {
        this.#ok = err === undefined;
        this.#error = err === undefined ? undefined : codeOf(err);
      },
      housekeeping: () => store.pruneInbox(Date.now() - retention),
    });
  }

  /** Opens the database a service's declaration and the environment name. */
  static async open(options: DatabaseOptions, host: DatabaseHost): Promise<ServiceDatabase> {
    const target = resolveTarget(host.service, options, host.defaults);
    if (target.dialect === "sqlite") {
      const { dialect } = await openSqlite(target.file, host.logger);
      return new ServiceDatabase(new Kysely({ dialect }), target, host, options, undefined);
    }
    const settings = {
      url: target.url,
      schema: target.schema,
      service: host.service,
      poolSize: options.poolSize ?? DEFAULTS.poolSize,
      statementTimeout: options.statementTimeout ?? DEFAULTS.statementTimeout,
    };
    const { dialect, pool } = await openPostgres(settings, host.logger);
    // The relay has a connection of its own, besides the handlers' pool: sharing the pool, each
    // of its claims and deletes waited behind the handlers' transactions for a connection, and
    // under load it fell behind the commits (bench/data).
    let relay: Awaited<ReturnType<typeof openPostgres>>;
    try {
      relay = await openPostgres({ ...settings, poolSize: 1 }, host.logger);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new ServiceDatabase(
      new Kysely({ dialect }),
      target,
      host,
      options,
      pool,
      new Kysely({ dialect: relay.dialect }),
    );
  }

  /** The service's migrations, one instance at a time. */
  migrator(): ServiceMigrator {
    return new ServiceMigrator(
      this.host.service,
      this.kysely as Kysely<unknown>,
      this.options.migrations ?? {},
      undefined,
      this.#schema,
    );
  }

  /** PostgreSQL: the schema the migration tables live in (SQLite has none). */
  get #schema(): string | undefined {
    return this.target.dialect === "postgres" ? this.target.schema : undefined;
  }

  /** Flotilla's own tables (outbox, inbox), tracked apart from the service's migrations. */
  ownTablesMigrator(): ServiceMigrator {
    return new ServiceMigrator(
      this.host.service,
      this.kysely as Kysely<unknown>,
      internalMigrations(this.target.dialect),
      INTERNAL_TABLES,
      this.#schema,
    );
  }

  /** Brings Flotilla's tables up to date, then (unless `migrateOnStart: false`) the service's. */
  async migrate(): Promise<void> {
    await this.ownTablesMigrator().latest();
    if (this.options.migrateOnStart === false || this.options.migrations === undefined) return;
    const { results } = await this.migrator().latest();
    for (const r of results ?? []) {
      this.host.logger.info(
        { migration: r.migrationName, direction: r.direction },
        `Migration '${r.migrationName}' of '${this.host.service}' ran`,
      );
    }
  }

  dbFor(_ctx: ParentContext | undefined): unknown {
    return this.#joined()?.scope.db ?? this.kysely;
  }

  async transaction(
    ctx: ParentContext | undefined,
    fn: (tx: TransactionScope<unknown>) => Promise<unknown>,
    opts: TransactionOptions | undefined,
    own = false,
  ): Promise<unknown> {
    const current = own ? undefined : this.#joined();
    if (current !== undefined) return fn(current.scope);
    const signal = ctx?.signal;
    if (signal?.aborted) throw signal.reason;
    const events: NewOutboxRow[] = [];
    let builder = this.kysely.transaction();
    if (opts?.isolation !== undefined && this.target.dialect === "postgres") {
      builder = builder.setIsolationLevel(opts.isolation);
    }
    const result = await builder.execute(async (trx) => {
      await this.#capStatements(trx, ctx);
      const scope = this.#scope(trx, ctx, events);
      const entered: Active = { database: this, scope, done: false };
      let value: unknown;
      try {
        value = await active.run(entered, () => fn(scope));
      } finally {
        entered.done = true;
      }
      // Nobody wants the result any more (the caller timed out or left): roll back, not commit.
      if (signal?.aborted) throw signal.reason;
      // Written last, so two transactions that serialize on a row get outbox IDs in commit order.
      if (events.length > 0) await insertOutbox(trx, events);
      return value;
    });
    if (events.length > 0) this.relay.kick();
    // better-sqlite3 never waits for I/O: transactions run back to back would keep this process
    // from reading its sockets (the broker's confirms, heartbeats, calls). Yield once per commit.
    if (this.target.dialect === "sqlite")
      await new Promise<void>((resolve) => setImmediate(resolve));
    return result;
  }

  /**
   * On PostgreSQL, a transaction run for a call with less time left than the pool's statement
   * timeout gets that budget as its own (`SET LOCAL`): a query still running when the caller's
   * deadline passes is cancelled by the server, and the transaction rolls back.
   */
  async #capStatements(trx: Transaction<FlotillaTables>, ctx: ParentContext | undefined) {
    if (this.target.dialect !== "postgres" || ctx === undefined || ctx.deadline === 0) return;
    const limit = this.options.statementTimeout ?? DEFAULTS.statementTimeout;
    const left = Math.max(1, Math.ceil(ctx.remaining));
    if (limit > 0 && left >= limit) return;
    await sql`select set_config('statement_timeout', ${String(left)}, true)`.execute(trx);
  }

  /** The transaction of this database the running code is in, while it is still open. */
  #joined(): Active | undefined {
    const current = active.getStore();
    return current?.database === this && !current.done ? current : undefined;
  }

  #scope(
    trx: Transaction<FlotillaTables>,
    ctx: ParentContext | undefined,
    events: NewOutboxRow[],
  ): TransactionScope<unknown> {
    const caller = ctx?.service?.fullName ?? this.host.service;
    return {
      db: trx as unknown as Transaction<unknown>,
      emit: ((event: string, payload?: unknown, opts?: OutboxEmitOptions) => {
        try {
          const traced = traceOutboxWrite(ctx, event, opts);
          events.push(outboxRow(ctx, caller, event, payload, traced, this.host.maxPacketSize));
          return Promise.resolve();
        } catch (err) {
          return Promise.reject(err);
        }
      }) as TransactionScope<unknown>["emit"],
    };
  }

  health(): DatabaseHealth {
    const health: DatabaseHealth = {
      dialect: this.target.dialect,
      location: describeTarget(this.target),
      ok: this.#ok,
      outbox: this.relay.health,
    };
    if (this.#error !== undefined) health.error = this.#error;
    if (this.pool !== undefined) {
      health.pool = {
        size: this.pool.totalCount,
        idle: this.pool.idleCount,
        waiting: this.pool.waitingCount,
        max: this.options.poolSize ?? DEFAULTS.poolSize,
      };
    }
    return health;
  }

  /** Stops the relay (after its round in hand) and closes the connections. */
  async close(): Promise<void> {
    await this.relay.stop();
    await this.kysely.destroy();
    await this.relayKysely?.destroy();
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : "DB_ERROR";
}
