import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * Errors of a service's database. Their messages never carry SQL, values or credentials: the
 * driver's error stays in the node's log, and the caller gets a code it can act on.
 */

/** A query or the connection failed; `data.reason` is the driver's error class (no SQL). */
export class DatabaseError extends FlotillaError {
  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, "DB_ERROR", 500, options);
  }
}

/** A write broke a unique constraint: the row exists already. */
export class ConflictError extends FlotillaError {
  constructor(message = "The record already exists.", options: FlotillaErrorOptions = {}) {
    super(message, "CONFLICT", 409, options);
  }
}

/** A migration failed and was rolled back; the service does not start. */
export class MigrationError extends FlotillaError {
  constructor(
    service: string,
    migration: string,
    reason: string,
    options: FlotillaErrorOptions = {},
  ) {
    super(
      `Migration '${migration}' of service '${service}' failed and was rolled back: ${reason}`,
      "MIGRATION_FAILED",
      500,
      { ...options, data: options.data ?? { service, migration } },
    );
  }
}

/** A handler used `ctx.db` in a service that declares no database, or before it is open. */
export class NoDatabaseError extends FlotillaError {
  constructor(service: string, options: FlotillaErrorOptions = {}) {
    super(
      `Service '${service}' has no open database: declare one with ` +
        "`database: defineDatabase<DB>({ migrations })` in defineService, and start the broker.",
      "NO_DATABASE",
      500,
      { ...options, data: options.data ?? { service } },
    );
  }
}
