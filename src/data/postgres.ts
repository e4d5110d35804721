import { type Kysely, PostgresAdapter, PostgresDialect, sql } from "kysely";
import type PgTypes from "pg";
import { ConfigurationError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import { optionalDependency } from "../util/optional.js";
import { codedDialect } from "./driver.js";
import { unreachable } from "./errors.js";

const loadPg = optionalDependency(
  "pg",
  "A PostgreSQL database (a postgres:// database URL)",
  async () => (await import("pg")).default,
);

/** How long taking a connection from the pool may take before the query fails, in ms. */
const CONNECT_TIMEOUT = 5_000;

/** Settings of one service's PostgreSQL pool. */
export interface PostgresSettings {
  url: string;
  schema: string;
  service: string;
  poolSize: number;
  statementTimeout: number;
}

/** A service's PostgreSQL pool, opened for Kysely. */
export interface PostgresHandle {
  dialect: ReturnType<typeof codedDialect>;
  pool: PgTypes.Pool;
}

/**
 * Opens a pool whose every connection works in the service's own schema (`search_path`), with a
 * statement timeout, after creating the schema if it is missing (under an advisory lock, so
 * instances starting together do not race on it). Idle connections that die are logged and
 * replaced, never left to crash the process.
 */
export async function openPostgres(
  settings: PostgresSettings,
  logger: Logger,
): Promise<PostgresHandle> {
  const pg = await loadPg();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(settings.schema)) {
    throw new ConfigurationError(
      `The schema '${settings.schema}' of service '${settings.service}' is not a plain identifier (letters, digits, '_').`,
      "INVALID_DATABASE_URL",
    );
  }
  await createSchema(pg, settings);
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: settings.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT,
    application_name: `flotilla:${settings.service}`,
    options: `-c search_path=${settings.schema} -c statement_timeout=${Math.max(0, Math.floor(settings.statementTimeout))}`,
  });
  pool.on("error", (err) => {
    logger.warn({ err }, "An idle database connection failed; it was dropped");
  });
  return {
    dialect: codedDialect(
      new PostgresDialect({ pool }),
      logger,
      { system: "postgresql", namespace: settings.schema },
      { adapter: new MigratingPostgresAdapter() },
    ),
    pool,
  };
}

async function createSchema(pg: typeof PgTypes, settings: PostgresSettings): Promise<void> {
  const client = new pg.Client({
    connectionString: settings.url,
    connectionTimeoutMillis: CONNECT_TIMEOUT,
  });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    throw unreachable(err);
  }
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [
      `flotilla.schema.${settings.schema}`,
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${settings.schema}"`);
    await client.query("COMMIT");
  } finally {
    await client.end();
  }
}

/**
 * Kysely's PostgreSQL adapter, with migrations exempt from the service's statement timeout: the
 * timeout guards handlers' queries, while a migration may rightly run long (an index on a big
 * table), and so may the wait for the migration lock while another instance migrates. The
 * connection's own setting comes back with `reset` when the lock is released.
 */
class MigratingPostgresAdapter extends PostgresAdapter {
  override async acquireMigrationLock(
    db: Kysely<unknown>,
    opt: Parameters<PostgresAdapter["acquireMigrationLock"]>[1],
  ): Promise<void> {
    await sql`set statement_timeout = 0`.execute(db);
    await super.acquireMigrationLock(db, opt);
  }

  override async releaseMigrationLock(
    db: Kysely<unknown>,
    opt: Parameters<PostgresAdapter["releaseMigrationLock"]>[1],
  ): Promise<void> {
    try {
      await super.releaseMigrationLock(db, opt);
    } finally {
      await sql`reset statement_timeout`.execute(db);
    }
  }
}
