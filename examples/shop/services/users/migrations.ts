// The users service's tables, portable between SQLite and PostgreSQL: text IDs (UUIDs), times
// as ISO 8601 text (they sort as they compare), no dialect-specific types.
import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** The rows of the users service. */
export interface UsersDB {
  users: {
    /** A UUID. */
    id: string;
    /** Lower-cased, unique. */
    email: string;
    name: string;
    role: "customer" | "admin";
    /** `scrypt:N:r:p:<salt hex>:<key hex>` (see passwords.ts). */
    password_hash: string;
    /** ISO 8601. */
    created_at: string;
  };
}

/** The users service's migrations, run in name order when it starts. */
export const migrations: Record<string, Migration> = {
  "0001_users": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("users")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("email", "text", (c) => c.notNull().unique())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("role", "text", (c) => c.notNull().defaultTo("customer"))
        .addColumn("password_hash", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("users").execute();
    },
  },
};
