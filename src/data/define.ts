import type { DatabaseDeclaration, DatabaseOptions } from "./types.js";

/**
 * Declares a service's own database. `DB` is its Kysely `Database` type (one interface per
 * table): it types `ctx.db` in every handler of the service. SQLite in `./.data/<service>.sqlite`
 * unless a URL is given (see docs/data.md).
 *
 * @example
 * ```ts
 * interface UsersDB { users: { id: Generated<number>; email: string } }
 * export const users = defineService({
 *   name: "users",
 *   database: defineDatabase<UsersDB>({ migrations: new URL("./migrations", import.meta.url) }),
 *   actions: {
 *     get: { handler: (ctx) => ctx.db.selectFrom("users").selectAll().execute() },
 *   },
 * });
 * ```
 */
export function defineDatabase<DB>(options: DatabaseOptions = {}): DatabaseDeclaration<DB> {
  return { ...options };
}
