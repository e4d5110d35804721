// The users service: accounts, passwords and login. It owns the users table; other services
// learn who is calling from the token's claims in `ctx.meta.user`, and ask `users.get` for the
// rest (the orders service, for a customer's email).
import { randomUUID } from "node:crypto";
import { ConflictError, defineDatabase, defineService, FlotillaError } from "flotilla";
import type { Kysely } from "kysely";
import { z } from "zod";
import { callerOf, type ShopUser, signToken } from "../../shared/auth.js";
import { SEED_USERS, seedEnabled } from "../../shared/seed.js";
import { migrations, type UsersDB } from "./migrations.js";
import { decoyHash, hashPassword, verifyPassword } from "./passwords.js";

type UserRow = UsersDB["users"];

/** A row as the service shows it: without the password hash. */
function shown(row: Pick<UserRow, "id" | "email" | "name" | "role">): ShopUser {
  return { id: row.id, email: row.email, name: row.name, role: row.role };
}

/** Emails compare without case and surrounding spaces: `Ada@Example.com` is `ada@example.com`. */
const normalized = (email: string) => email.trim().toLowerCase();

function emailTaken(email: string): FlotillaError {
  return new FlotillaError(`An account with ${email} exists already.`, "EMAIL_TAKEN", 409, {
    data: { email },
  });
}

/** Accounts and login: register, log in (a signed JWT), who am I, and a user by ID. */
export const users = defineService({
  name: "users",
  database: defineDatabase<UsersDB>({ migrations }),
  actions: {
    register: {
      params: z.object({
        email: z.email().max(254),
        name: z.string().trim().min(1).max(100),
        password: z.string().min(8).max(200),
      }),
      rest: "POST /register",
      visibility: "published",
      summary: "Creates a customer account",
      async handler(ctx): Promise<ShopUser> {
        const email = normalized(ctx.params.email);
        const existing = await ctx.db
          .selectFrom("users")
          .select("id")
          .where("email", "=", email)
          .executeTakeFirst();
        if (existing !== undefined) throw emailTaken(email);
        const row: UserRow = {
          id: randomUUID(),
          email,
          name: ctx.params.name,
          role: "customer",
          password_hash: await hashPassword(ctx.params.password),
          created_at: new Date().toISOString(),
        };
        try {
          await ctx.db.insertInto("users").values(row).execute();
        } catch (err) {
          // Two registrations of one email at once: the unique index lets one in.
          if (err instanceof ConflictError) throw emailTaken(email);
          throw err;
        }
        return shown(row);
      },
    },

    login: {
      params: z.object({ email: z.string().max(254), password: z.string().max(200) }),
      rest: "POST /login",
      visibility: "published",
      summary: "Checks a password and returns a token (2 h) with the user",
      async handler(ctx): Promise<{ token: string; user: ShopUser }> {
        const row = await ctx.db
          .selectFrom("users")
          .selectAll()
          .where("email", "=", normalized(ctx.params.email))
          .executeTakeFirst();
        // An unknown email costs a hash too: the time of the answer does not tell which it was.
        const ok = await verifyPassword(
          ctx.params.password,
          row?.password_hash ?? (await decoyHash()),
        );
        if (row === undefined || !ok) {
          throw new FlotillaError("Wrong email or password.", "INVALID_CREDENTIALS", 401);
        }
        const user = shown(row);
        return { token: await signToken(user), user };
      },
    },

    me: {
      rest: "GET /me",
      visibility: "published",
      summary: "The logged-in user",
      async handler(ctx): Promise<ShopUser> {
        const { id } = callerOf(ctx);
        const row = await ctx.db
          .selectFrom("users")
          .select(["id", "email", "name", "role"])
          .where("id", "=", id)
          .executeTakeFirst();
        // A valid token of an account that is gone: nobody is logged in.
        if (row === undefined) throw new FlotillaError("Log in first.", "UNAUTHORIZED", 401);
        return shown(row);
      },
    },

    get: {
      params: z.object({ id: z.string().min(1) }),
      summary: "A user by ID (for other services; not on the gateway)",
      async handler(ctx): Promise<ShopUser> {
        const row = await ctx.db
          .selectFrom("users")
          .select(["id", "email", "name", "role"])
          .where("id", "=", ctx.params.id)
          .executeTakeFirst();
        if (row === undefined) {
          throw new FlotillaError(`No user ${ctx.params.id}.`, "USER_NOT_FOUND", 404, {
            data: { id: ctx.params.id },
          });
        }
        return shown(row);
      },
    },
  },

  /** Inserts the demo accounts into an empty table (unless `SHOP_SEED=0`). */
  async started(service) {
    const empty = async (db: Kysely<UsersDB>) =>
      (await db.selectFrom("users").select("id").limit(1).executeTakeFirst()) === undefined;
    if (!seedEnabled() || !(await empty(service.db))) return;
    const rows = await Promise.all(
      SEED_USERS.map(async (u) => ({
        id: randomUUID(),
        email: u.email,
        name: u.name,
        role: u.role,
        password_hash: await hashPassword(u.password),
        created_at: new Date().toISOString(),
      })),
    );
    // Another instance may have seeded meanwhile: look again in the transaction.
    await service.transaction(async (tx) => {
      if (await empty(tx.db)) await tx.db.insertInto("users").values(rows).execute();
    });
  },
});

declare module "flotilla" {
  interface Services {
    users: typeof users;
  }
}

export default users;
