import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { ServiceBroker } from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import users from "../../examples/shop/services/users/service.js";
import { JWT_ISSUER, signToken, verifyToken } from "../../examples/shop/shared/auth.js";
import { DIALECTS, shopDialects } from "./fixtures/dialects.js";

// No demo data, and no database URL from the environment: each test says where its data is.
const ENV = ["SHOP_SEED", "FLOTILLA_DB_URL", "FLOTILLA_DB_URL_USERS"] as const;
const saved = new Map(ENV.map((k) => [k, process.env[k]]));
beforeAll(() => {
  for (const key of ENV) delete process.env[key];
  process.env.SHOP_SEED = "0";
});
afterAll(() => {
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

const { on, dropSchemas } = shopDialects();

let broker: ServiceBroker;

const ada = { email: "Ada@Example.com", name: "Ada Lovelace", password: "analytical-engine" };

describe.each(DIALECTS)("users on %s", (dialect) => {
  beforeEach(async () => {
    broker = createTestBroker();
    broker.createService(on(dialect, users));
    await broker.start();
    // The suite runs where it says it does.
    expect(broker.health().databases.users?.dialect).toBe(
      dialect === "SQLite" ? "sqlite" : "postgres",
    );
  });
  afterEach(async () => {
    await broker.stop();
    await dropSchemas();
  });

  describe("users: accounts and login", () => {
    it("registers a customer, logs in with a 2 h token, and tells who is calling", async () => {
      const registered = await broker.call("users.register", ada);
      expect(registered).toEqual({
        id: expect.any(String),
        email: "ada@example.com",
        name: "Ada Lovelace",
        role: "customer",
      });
      expect(registered).not.toHaveProperty("password_hash");

      // The email is compared without case.
      const { token, user } = await broker.call("users.login", {
        email: "ADA@example.com",
        password: ada.password,
      });
      expect(user).toEqual(registered);
      const claims = decodeJwt(token);
      expect(claims).toMatchObject({
        sub: registered.id,
        email: "ada@example.com",
        name: "Ada Lovelace",
        role: "customer",
        iss: JWT_ISSUER,
      });
      expect(claims.exp! - claims.iat!).toBe(2 * 60 * 60);
      expect(await verifyToken(token)).toEqual(registered);

      // What the gateway's jwtAuth puts in meta: the token's claims.
      expect(await broker.call("users.me", {}, { meta: { user: claims } })).toEqual(registered);
      expect(await broker.call("users.get", { id: registered.id })).toEqual(registered);
    });

    it("refuses a wrong password and an unknown email alike", async () => {
      await broker.call("users.register", ada);
      const wrong = broker.call("users.login", { email: ada.email, password: "difference-engine" });
      await expect(wrong).rejects.toMatchObject({ code: "INVALID_CREDENTIALS", status: 401 });
      const unknown = broker.call("users.login", { email: "nobody@example.com", password: "x" });
      await expect(unknown).rejects.toMatchObject({ code: "INVALID_CREDENTIALS", status: 401 });
    });

    it("refuses an email that is taken, whatever its case, also when registered at once", async () => {
      await broker.call("users.register", ada);
      const again = broker.call("users.register", { ...ada, email: "ada@EXAMPLE.com" });
      await expect(again).rejects.toMatchObject({
        code: "EMAIL_TAKEN",
        status: 409,
        data: { email: "ada@example.com" },
      });

      const grace = { email: "grace@example.com", name: "Grace", password: "compiler-first" };
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => broker.call("users.register", grace)),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results.filter((r) => r.status === "rejected")) {
        expect(r.reason).toMatchObject({ code: "EMAIL_TAKEN" });
      }
    });

    it("refuses a short password and a malformed email", async () => {
      const short = broker.call("users.register", { ...ada, password: "1234567" });
      await expect(short).rejects.toMatchObject({ code: "VALIDATION_ERROR", status: 422 });
      const email = broker.call("users.register", { ...ada, email: "not-an-email" });
      await expect(email).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    });

    it("answers UNAUTHORIZED to me without a user, or for an account that is gone", async () => {
      await expect(broker.call("users.me")).rejects.toMatchObject({
        code: "UNAUTHORIZED",
        status: 401,
      });
      const ghost = {
        id: "gone",
        email: "g@example.com",
        name: "Ghost",
        role: "customer" as const,
      };
      const claims = decodeJwt(await signToken(ghost));
      await expect(broker.call("users.me", {}, { meta: { user: claims } })).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    });

    it("answers USER_NOT_FOUND for an unknown ID", async () => {
      await expect(broker.call("users.get", { id: "nope" })).rejects.toMatchObject({
        code: "USER_NOT_FOUND",
        status: 404,
        data: { id: "nope" },
      });
    });

    it("refuses tokens signed with another secret", async () => {
      const user = await broker.call("users.register", ada);
      const forged = await signToken(user, "another-secret-of-at-least-32-chars!");
      await expect(verifyToken(forged)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    });
  });
});

describe("users: the demo accounts", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "shop-users-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("seeds the demo customer and admin once, with scrypt hashes, unless SHOP_SEED=0", async () => {
    const file = join(dir, "users.sqlite");
    process.env.SHOP_SEED = "1";
    try {
      // Twice on the same file: the second start finds the table filled and adds nothing.
      for (let run = 0; run < 2; run++) {
        const node = createTestBroker({ database: { url: `sqlite:${file}` } });
        node.createService(users);
        await node.start();
        const demo = await node.call("users.login", {
          email: "demo@shop.test",
          password: "demo-pass-123",
        });
        expect(demo.user.role).toBe("customer");
        const admin = await node.call("users.login", {
          email: "admin@shop.test",
          password: "admin-pass-123",
        });
        expect(admin.user.role).toBe("admin");
        await node.stop();
      }
    } finally {
      process.env.SHOP_SEED = "0";
    }
    const db = new Database(file, { readonly: true });
    const rows = db.prepare("select email, password_hash from users").all() as {
      email: string;
      password_hash: string;
    }[];
    db.close();
    expect(rows.map((r) => r.email).sort()).toEqual(["admin@shop.test", "demo@shop.test"]);
    for (const row of rows) {
      expect(row.password_hash).toMatch(/^scrypt:16384:8:1:[0-9a-f]{32}:[0-9a-f]{64}$/);
    }

    // With SHOP_SEED=0, as in the rest of this file, nobody is there.
    const empty = createTestBroker();
    empty.createService(users);
    await empty.start();
    const none = empty.call("users.login", { email: "demo@shop.test", password: "demo-pass-123" });
    await expect(none).rejects.toMatchObject({ code: "INVALID_CREDENTIALS" });
    await empty.stop();
  });
});
