import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { defineDatabase, defineService, MigrationError, type MigrationSource } from "flotilla";
import { type Kysely, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { until } from "../../harness/index.js";
import { type DataKit, rejection, type ShopDB, shopDatabase, shopMigrations } from "../fixtures.js";
import { clock, insertLedger, insertOrder, orderIDs } from "./services.js";

/** Migrations at start, and `ctx.db` in actions, timers and `started`. */
export function migrationTests(kit: () => DataKit): void {
  describe("migrations and ctx.db", () => {
    it("runs the migrations at start; ctx.db reads and writes in actions, service.db in started", async () => {
      const k = kit();
      const name = k.name("shop");
      const service = defineService({
        name,
        database: shopDatabase(),
        actions: {
          add: {
            params: z.object({ id: z.string(), item: z.string() }),
            handler: async (ctx) => {
              await insertOrder(ctx.db, { ...ctx.params, qty: 2 });
              return ctx.db
                .selectFrom("orders")
                .selectAll()
                .where("id", "=", ctx.params.id)
                .executeTakeFirstOrThrow();
            },
          },
          list: { handler: (ctx) => orderIDs(ctx.db) },
        },
        async started(service) {
          await insertOrder(service.db, { id: "seed", item: "a" });
          await service.transaction((tx) => insertOrder(tx.db, { id: "seed-tx", item: "b" }));
        },
      });
      const node = await k.start(service);
      expect(await k.target.tables(name)).toEqual(
        expect.arrayContaining(["orders", "ledger", "ticks"]),
      );
      await expect(node.call(`${name}.add`, { id: "o-1", item: "book" })).resolves.toEqual({
        id: "o-1",
        item: "book",
        qty: 2,
      });
      await expect(node.call(`${name}.list`)).resolves.toEqual(["o-1", "seed", "seed-tx"]);
      await node.stop();

      // Started again on the same data: nothing migrates twice, the rows are still there.
      const again = await k.start(
        defineService({
          name,
          database: shopDatabase(),
          actions: {
            count: { handler: (ctx) => ctx.db.selectFrom("orders").select("id").execute() },
          },
        }),
      );
      await expect(again.call(`${name}.count`)).resolves.toHaveLength(3);
    });

    it("gives timer handlers ctx.db", async () => {
      const k = kit();
      const name = k.name("clock");
      const node = await k.start(clock(name));
      await until(async () => ((await node.call(`${name}.ticks`)) as number) >= 2, {
        message: "two timer runs written through ctx.db",
      });
    });

    it("refuses to start with MIGRATION_FAILED when a migration fails, rolls back what that run did, and starts once it is fixed", async () => {
      const k = kit();
      const name = k.name("shop");
      const first = { "001_orders": shopMigrations["001_orders"] };
      const extra = {
        async up(db: Kysely<unknown>) {
          await db.schema.createTable("extra").addColumn("id", "text").execute();
        },
      };
      const service = (migrations: MigrationSource) =>
        defineService({ name, database: defineDatabase<ShopDB>({ migrations }) });

      const earlier = await k.start(service(first));
      await earlier.stop();

      /** `first`, then `extra`, then a migration that fails after its write when `broken`. */
      const third = (broken: boolean) =>
        service({
          ...first,
          "002_extra": extra,
          "003_broken": {
            async up(db: Kysely<unknown>) {
              await db.schema.createTable("extra_two").addColumn("id", "text").execute();
              if (broken) await sql`select * from no_such_table`.execute(db);
            },
          },
        });
      const failing = k.broker(third(true));
      const err = await rejection(failing.start());
      expect(err).toBeInstanceOf(MigrationError);
      expect(err).toMatchObject({
        code: "MIGRATION_FAILED",
        data: { service: name, migration: "003_broken" },
        message: expect.stringContaining("'003_broken'"),
      });
      expect(failing.state).toBe("stopped");
      const tables = await k.target.tables(name);
      expect(tables).toContain("orders");
      expect(tables).not.toContain("extra");
      expect(tables).not.toContain("extra_two");

      await k.start(third(false));
      expect(await k.target.tables(name)).toEqual(
        expect.arrayContaining(["orders", "extra", "extra_two"]),
      );
    });

    it("runs the migration files of a folder, given as a path or a URL", async () => {
      const k = kit();
      const folder = await mkdtemp(join(tmpdir(), "flotilla-migrations-"));
      try {
        await writeFile(join(folder, "package.json"), '{ "type": "module" }\n');
        await writeFile(
          join(folder, "001_orders.js"),
          [
            "export async function up(db) {",
            '  await db.schema.createTable("orders").addColumn("id", "text", (c) => c.primaryKey())',
            '    .addColumn("item", "text", (c) => c.notNull())',
            '    .addColumn("qty", "integer", (c) => c.notNull().defaultTo(1)).execute();',
            "}",
            "export async function down(db) {",
            '  await db.schema.dropTable("orders").execute();',
            "}",
            "",
          ].join("\n"),
        );
        await writeFile(
          join(folder, "002_ledger.js"),
          [
            "export async function up(db) {",
            '  await db.schema.createTable("ledger").addColumn("message_id", "text")',
            '    .addColumn("amount", "integer").execute();',
            "}",
            "",
          ].join("\n"),
        );
        // Not migrations: a module without `up`, a declaration file, a note.
        await writeFile(join(folder, "003_helpers.js"), "export const helper = 1;\n");
        await writeFile(join(folder, "004_types.d.ts"), "export declare const x: number;\n");
        await writeFile(join(folder, "README.txt"), "not a migration\n");

        const byPath = k.name("files");
        const byURL = k.name("files");
        const reader = (name: string, migrations: string | URL) =>
          defineService({
            name,
            database: defineDatabase<ShopDB>({ migrations }),
            actions: {
              add: {
                handler: async (ctx) => {
                  await insertOrder(ctx.db, { id: "1", item: "x" });
                  await insertLedger(ctx.db, "m", 1);
                  return ctx.db.selectFrom("orders").selectAll().execute();
                },
              },
            },
          });
        const node = await k.start([
          reader(byPath, folder),
          reader(byURL, pathToFileURL(`${folder}/`)),
        ]);
        for (const name of [byPath, byURL]) {
          await expect(node.call(`${name}.add`)).resolves.toEqual([{ id: "1", item: "x", qty: 1 }]);
          const tables = await k.target.tables(name);
          expect(tables).toEqual(expect.arrayContaining(["orders", "ledger"]));
        }
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    });
  });
}
