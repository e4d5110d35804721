import { readdir } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Kysely } from "kysely";
import {
  type Migration,
  type MigrationInfo,
  type MigrationProvider,
  type MigrationResultSet,
  Migrator,
  NO_MIGRATIONS,
} from "kysely/migration";
import { MigrationError } from "../errors/index.js";
import { driverErrorOf } from "./errors.js";
import type { MigrationSource } from "./types.js";

/** Where Kysely keeps which migrations ran: a table pair per service (in its schema). */
const TABLES = {
  migrationTableName: "kysely_migration",
  migrationLockTableName: "kysely_migration_lock",
};

/** Files a migrations folder may hold. */
const EXTENSIONS = new Set([".js", ".mjs", ".ts", ".mts"]);

/**
 * The migrations of a source: named migrations as given, or every `.js`/`.ts` file of a folder
 * (named after the file, run in name order), each exporting `up` and, optionally, `down`.
 */
export function migrationProvider(source: MigrationSource): MigrationProvider {
  if (typeof source === "string" || source instanceof URL) {
    const folder = typeof source === "string" ? source : fileURLToPath(source);
    return { getMigrations: () => readFolder(folder) };
  }
  return { getMigrations: async () => ({ ...source }) };
}

async function readFolder(folder: string): Promise<Record<string, Migration>> {
  const files = (await readdir(folder)).filter(
    (f) => EXTENSIONS.has(extname(f)) && !f.endsWith(".d.ts") && !f.endsWith(".d.mts"),
  );
  const migrations: Record<string, Migration> = {};
  for (const file of files.sort()) {
    const mod = (await import(pathToFileURL(join(folder, file)).href)) as Partial<Migration>;
    if (typeof mod.up !== "function") continue;
    migrations[file.slice(0, -extname(file).length)] = mod as Migration;
  }
  return migrations;
}

/** Runs migrations for one service, one instance at a time (the dialect's migration lock). */
export class ServiceMigrator {
  readonly #migrator: Migrator;

  constructor(
    private readonly service: string,
    db: Kysely<unknown>,
    source: MigrationSource,
    tables = TABLES,
    /**
     * PostgreSQL: the service's schema, named so Kysely looks for its tables there only (its
     * introspection sees every schema of the database, and would take another service's
     * `kysely_migration` for this one's).
     */
    schema?: string,
  ) {
    this.#migrator = new Migrator({
      db,
      provider: migrationProvider(source),
      ...tables,
      ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    });
  }

  /** Runs every pending migration; throws `MIGRATION_FAILED` (all rolled back) on an error. */
  latest(): Promise<MigrationResultSet> {
    return this.#checked(this.#migrator.migrateToLatest());
  }

  /** Runs the next pending migration. */
  up(): Promise<MigrationResultSet> {
    return this.#checked(this.#migrator.migrateUp());
  }

  /** Undoes the last migration that ran. */
  down(): Promise<MigrationResultSet> {
    return this.#checked(this.#migrator.migrateDown());
  }

  /** Undoes every migration. */
  reset(): Promise<MigrationResultSet> {
    return this.#checked(this.#migrator.migrateTo(NO_MIGRATIONS));
  }

  /** Every migration with the time it ran (`executedAt` unset when pending). */
  status(): Promise<readonly MigrationInfo[]> {
    return this.#migrator.getMigrations();
  }

  async #checked(run: Promise<MigrationResultSet>): Promise<MigrationResultSet> {
    const result = await run;
    if (result.error === undefined) return result;
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName ?? "(setup)";
    const driver = driverErrorOf(result.error) ?? result.error;
    const reason = driver instanceof Error ? driver.message : String(driver);
    throw new MigrationError(this.service, failed, reason);
  }
}

/** The migrator of Flotilla's own tables (outbox, inbox), kept apart from the service's. */
export const INTERNAL_TABLES = {
  migrationTableName: "flotilla_migration",
  migrationLockTableName: "flotilla_migration_lock",
};
