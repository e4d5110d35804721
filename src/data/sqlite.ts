import { mkdirSync } from "node:fs";
import { basename, dirname } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { type DialectAdapter, type Kysely, SqliteAdapter, SqliteDialect } from "kysely";
import type { Logger } from "../observability/logger.js";
import { optionalDependency } from "../util/optional.js";
import { codedDialect } from "./driver.js";

const loadSqlite = optionalDependency(
  "better-sqlite3",
  "A SQLite database (the default when no database URL is set)",
  async () => (await import("better-sqlite3")).default,
);

/** How long a writer waits for another process's write lock before `SQLITE_BUSY`, in ms. */
const BUSY_TIMEOUT = 10_000;
/** How often an instance waiting for the migration lock tries again, in ms. */
const LOCK_POLL = 25;

/** A service's SQLite file, opened for Kysely. */
export interface SqliteHandle {
  dialect: ReturnType<typeof codedDialect>;
  /** The open connection (one per process: SQLite has a single writer anyway). */
  connection: BetterSqlite3.Database;
}

/**
 * Opens (creating it and its folder when missing) a SQLite file in WAL mode: readers do not block
 * the writer, a commit is one fsync-free append (`synchronous = NORMAL` is crash-safe in WAL),
 * other processes on the same file wait for the write lock instead of failing, and foreign keys
 * are enforced.
 */
export async function openSqlite(file: string, logger: Logger): Promise<SqliteHandle> {
  const Database = await loadSqlite();
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const connection = new Database(file, { timeout: BUSY_TIMEOUT });
  if (file !== ":memory:") connection.pragma("journal_mode = WAL");
  connection.pragma("synchronous = NORMAL");
  connection.pragma("foreign_keys = ON");
  const lock = file === ":memory:" ? undefined : `${file}.migrate-lock`;
  // `begin immediate`: a transaction takes the write lock first, so a transaction of another
  // process on the same file makes it wait (busy timeout) instead of failing half-way.
  const spans = {
    system: "sqlite",
    namespace: file === ":memory:" ? "memory" : basename(file),
  } as const;
  const dialect = codedDialect(new SqliteDialect({ database: connection }), logger, spans, {
    adapter: new LockingSqliteAdapter(lock, Database),
    begin: "begin immediate",
  });
  return { dialect, connection };
}

/**
 * Kysely's SQLite adapter with a real migration lock. Kysely assumes one process per SQLite file;
 * several instances of a service on one machine share it, so the lock is an exclusive transaction
 * on a side file that every instance opens: the second instance waits there, then finds the
 * migrations done. SQLite runs DDL in transactions, so a failing migration rolls back whole.
 */
class LockingSqliteAdapter extends SqliteAdapter implements DialectAdapter {
  #held: BetterSqlite3.Database | undefined;

  constructor(
    private readonly lockFile: string | undefined,
    private readonly Database: typeof BetterSqlite3,
  ) {
    super();
  }

  override get supportsTransactionalDdl(): boolean {
    return true;
  }

  override async acquireMigrationLock(_db: Kysely<unknown>): Promise<void> {
    if (this.lockFile === undefined) return;
    // Polled rather than waited for in SQLite's busy handler, which would block the event loop
    // (and the node's heartbeats) while another instance migrates.
    const lock = new this.Database(this.lockFile, { timeout: 0 });
    for (;;) {
      try {
        lock.exec("BEGIN EXCLUSIVE");
        this.#held = lock;
        return;
      } catch (err) {
        if ((err as { code?: unknown }).code !== "SQLITE_BUSY") {
          lock.close();
          throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, LOCK_POLL));
      }
    }
  }

  override async releaseMigrationLock(_db: Kysely<unknown>): Promise<void> {
    const lock = this.#held;
    this.#held = undefined;
    if (lock === undefined) return;
    lock.exec("COMMIT");
    lock.close();
  }
}
