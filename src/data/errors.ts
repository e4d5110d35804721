import { ConflictError, DatabaseError, FlotillaError } from "../errors/index.js";

/**
 * Turns a database driver's error into a coded Flotilla error the caller may see: a unique
 * violation becomes `CONFLICT` (409), anything else `DB_ERROR`, retryable when trying again can
 * help (a lost connection, a deadlock, a busy SQLite file). The driver's message (which may quote
 * values or SQL) is not in it, nor its `cause` (causes cross the wire): the database layer logs
 * it, and {@link driverErrorOf} hands it to code on this node.
 */
export function toDataError(err: unknown): unknown {
  if (err instanceof FlotillaError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && err.name === "SqliteError" && code.startsWith("SQLITE_")) {
    return fromSqlite(code);
  }
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && isServerError(err)) {
    return fromPostgres(code);
  }
  return new DatabaseError("The database query failed.", {
    retryable: typeof code === "string" && code.startsWith("E"),
    data: { reason: typeof code === "string" ? code : err.name },
  });
}

/** A connection could not be had from the pool (server down, wrong address, pool timeout). */
export function unreachable(err: unknown): unknown {
  if (err instanceof FlotillaError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  return new DatabaseError("The database cannot be reached.", {
    retryable: true,
    data: { reason: typeof code === "string" ? code : "CONNECT_FAILED" },
  });
}

function fromSqlite(code: string): FlotillaError {
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return new ConflictError(undefined, { data: { reason: code } });
  }
  const retryable = code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
  return new DatabaseError(sqliteMessage(code), { retryable, data: { reason: code } });
}

function sqliteMessage(code: string): string {
  if (code.startsWith("SQLITE_CONSTRAINT")) return "The write breaks a constraint of the database.";
  if (code.startsWith("SQLITE_BUSY")) return "The database is busy; try again.";
  return "The database query failed.";
}

/** An error the PostgreSQL server sent (it has a severity), not a socket error such as `EPIPE`. */
function isServerError(err: Error): boolean {
  return typeof (err as { severity?: unknown }).severity === "string";
}

/** SQLSTATE classes worth a retry: connection (08), transaction rollback (40), resources (53), operator intervention (57). */
const RETRYABLE_CLASSES = new Set(["08", "40", "53", "57"]);

function fromPostgres(code: string): FlotillaError {
  if (code === "23505") return new ConflictError(undefined, { data: { reason: code } });
  const retryable = RETRYABLE_CLASSES.has(code.slice(0, 2));
  const message =
    code === "57014"
      ? "The database query took too long and was cancelled."
      : code.startsWith("23")
        ? "The write breaks a constraint of the database."
        : "The database query failed.";
  return new DatabaseError(message, { retryable, data: { reason: code } });
}

const DRIVER_ERROR = Symbol("flotilla.driverError");

/** Keeps the driver's error on the coded one, where only this process can see it. */
export function keepDriverError<E>(coded: E, driver: unknown): E {
  if (coded !== driver && typeof coded === "object" && coded !== null) {
    Object.defineProperty(coded, DRIVER_ERROR, { value: driver, enumerable: false });
  }
  return coded;
}

/** The driver's own error behind a coded database error (on the node that raised it). */
export function driverErrorOf(err: unknown): unknown {
  return typeof err === "object" && err !== null
    ? (err as { [DRIVER_ERROR]?: unknown })[DRIVER_ERROR]
    : undefined;
}
