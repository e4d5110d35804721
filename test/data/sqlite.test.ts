import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { defineService, NoDatabaseError, ServiceBroker, ServiceSchemaError } from "flotilla";
import { describe, expect, it } from "vitest";
import { type DataTarget, dataKit, rejection, shopDatabase } from "./fixtures.js";
import { runDataSuite } from "./suite/index.js";

// The data suite on SQLite: every test gets a temporary directory (the broker's `database.dir`),
// so each service has a file of its own there, deleted after the test.

async function sqliteTarget(): Promise<DataTarget> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-data-"));
  const file = (service: string) => join(dir, `${service}.sqlite`);
  return {
    dialect: "sqlite",
    database: () => ({ dir }),
    location: file,
    async tables(service) {
      const db = new Database(file(service), { readonly: true, fileMustExist: true });
      try {
        const rows = db.prepare("select name from sqlite_master where type = 'table'").all();
        return rows.map((r) => (r as { name: string }).name);
      } finally {
        db.close();
      }
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
    missingTableReason: "SQLITE_ERROR",
    conflictReason: "SQLITE_CONSTRAINT_PRIMARYKEY",
    conflictDriverMessage: /UNIQUE constraint failed/,
  };
}

runDataSuite("SQLite", sqliteTarget);

describe("data on SQLite only", () => {
  const kit = dataKit(sqliteTarget);

  /** A service that counts its orders, on the database `url` names (or the defaults). */
  function counter(name: string, url?: string) {
    return defineService({
      name,
      database: shopDatabase(url === undefined ? {} : { url }),
      actions: {
        add: {
          handler: async (ctx) => {
            await ctx.db.insertInto("orders").values({ id: "1", item: "x", qty: 1 }).execute();
            return (await ctx.db.selectFrom("orders").selectAll().execute()).length;
          },
        },
      },
    });
  }

  it("keeps each service in <dir>/<service>.sqlite by default, and in memory with sqlite::memory:", async () => {
    const k = kit();
    const onDisk = k.name("disk");
    const inMemory = k.name("mem");
    const node = await k.start([counter(onDisk), counter(inMemory, "sqlite::memory:")]);
    await expect(node.call(`${onDisk}.add`)).resolves.toBe(1);
    await expect(node.call(`${inMemory}.add`)).resolves.toBe(1);
    expect(existsSync(k.target.location(onDisk))).toBe(true);
    expect(existsSync(k.target.location(inMemory))).toBe(false);
    expect(node.health().databases[inMemory]).toMatchObject({
      dialect: "sqlite",
      location: ":memory:",
      ok: true,
    });
  });

  it("takes the database from $FLOTILLA_DB_URL_<SERVICE>, the declaration, $FLOTILLA_DB_URL, the broker, then the directory, in that order", async () => {
    const k = kit();
    const dir = await mkdtemp(join(tmpdir(), "flotilla-urls-"));
    const at = (file: string) => join(dir, file);
    const env = k.name("env");
    const declared = k.name("declared");
    const global = k.name("global");
    const variable = `FLOTILLA_DB_URL_${env.toUpperCase()}`;
    process.env[variable] = `sqlite:${at("from-service-variable.db")}`;
    process.env.FLOTILLA_DB_URL = `sqlite:${at("from-variable.db")}`;
    try {
      const node = await k.start(
        [
          counter(env, `sqlite:${at("ignored.db")}`),
          counter(declared, `sqlite:${at("declared.db")}`),
          counter(global),
        ],
        { database: { url: `sqlite:${at("broker.db")}`, dir } },
      );
      const { databases } = node.health();
      expect(databases[env]?.location).toBe(at("from-service-variable.db"));
      expect(databases[declared]?.location).toBe(at("declared.db"));
      expect(databases[global]?.location).toBe(at("from-variable.db"));
      expect(existsSync(at("ignored.db"))).toBe(false);
      await node.stop();

      delete process.env.FLOTILLA_DB_URL;
      const second = await k.start(counter(global), {
        database: { url: `sqlite:${at("broker.db")}` },
      });
      expect(second.health().databases[global]?.location).toBe(at("broker.db"));
    } finally {
      delete process.env[variable];
      delete process.env.FLOTILLA_DB_URL;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("answers ctx.db and ctx.transaction in a service without a database with NO_DATABASE", async () => {
    const k = kit();
    const name = k.name("plain");
    const node = await k.start(
      defineService({
        name,
        actions: {
          // Not in the type of ctx here (no database): reached as JavaScript would.
          db: { handler: (ctx) => Reflect.get(ctx, "db") },
          transaction: {
            handler: (ctx) => {
              const transaction = Reflect.get(ctx, "transaction") as (
                fn: () => Promise<void>,
              ) => Promise<void>;
              return transaction.call(ctx, async () => {});
            },
          },
        },
      }),
    );
    for (const action of ["db", "transaction"]) {
      const err = await rejection(node.call(`${name}.${action}`));
      expect(err).toBeInstanceOf(NoDatabaseError);
      expect(err).toMatchObject({ code: "NO_DATABASE", data: { service: name } });
    }
  });

  it("refuses inbox: true without durable: true, or without a database, at createService", () => {
    const broker = new ServiceBroker({ logger: false });
    const handler = () => {};
    const cases = [
      defineService({
        name: "a",
        database: shopDatabase(),
        events: { x: { inbox: true, handler } },
      }),
      defineService({ name: "b", events: { x: { durable: true, inbox: true, handler } } }),
    ];
    for (const service of cases) {
      expect(() => broker.createService(service)).toThrow(ServiceSchemaError);
      expect(() => broker.createService(service)).toThrow(/inbox: true, which needs durable: true/);
    }
    expect(() =>
      broker.createService(
        defineService({
          name: "c",
          database: shopDatabase(),
          events: { x: { durable: true, inbox: true, handler } },
        }),
      ),
    ).not.toThrow();
  });
});
