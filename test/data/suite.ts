import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  ConflictError,
  type Context,
  DatabaseError,
  defineDatabase,
  defineService,
  driverErrorOf,
  FlotillaError,
  type Meta,
  MigrationError,
  type MigrationSource,
  PacketTooLargeError,
  type ServiceBroker,
} from "flotilla";
import { type Kysely, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { until } from "../harness/index.js";
import {
  type DataTarget,
  dataKit,
  errorText,
  rejection,
  type ShopDB,
  shopDatabase,
  shopMigrations,
} from "./fixtures.js";

/** One delivery a durable handler saw. */
interface Delivery {
  params: unknown;
  messageID: string | undefined;
  attempt: number | undefined;
  requestID: string;
  caller: string | undefined;
  meta: Meta;
  headers: Record<string, string> | undefined;
}

/** Retries of durable handlers in these tests: a few ms, not the default 100 ms doubling. */
const FAST = { delay: 2, maxDelay: 10, factor: 2 };

/** A service with one durable handler (one event at a time) that records what it sees. */
function recorder(name: string, event: string, log: Delivery[]) {
  return defineService({
    name,
    events: {
      [event]: {
        durable: true,
        concurrency: 1,
        backoff: FAST,
        handler(ctx: Context<unknown>) {
          log.push({
            params: ctx.params,
            messageID: ctx.messageID,
            attempt: ctx.attempt,
            requestID: ctx.requestID,
            caller: ctx.caller,
            meta: { ...ctx.meta },
            headers: ctx.headers,
          });
        },
      },
    },
  });
}

/**
 * The shop service of most tests: `place` writes an order and emits `order.placed` in one
 * transaction (then throws, when asked to), `list` reads the order IDs.
 */
function shop(name: string, options: Parameters<typeof shopDatabase>[0] = {}) {
  return defineService({
    name,
    database: shopDatabase(options),
    actions: {
      place: {
        params: z.object({
          id: z.string(),
          item: z.string().default("book"),
          messageID: z.string().optional(),
          key: z.string().optional(),
          fail: z.string().optional(),
        }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            const { id, item, messageID, key, fail } = ctx.params;
            await tx.db.insertInto("orders").values({ id, item, qty: 1 }).execute();
            await tx.emit(
              "order.placed",
              { id },
              { messageID, key, meta: { step: "placed" }, headers: { "x-step": "placed" } },
            );
            if (fail !== undefined) throw new Error(fail);
            return { id };
          }),
      },
      list: {
        handler: async (ctx) =>
          (await ctx.db.selectFrom("orders").select("id").orderBy("id").execute()).map((r) => r.id),
      },
      /** The message IDs waiting in the outbox table. */
      outbox: {
        handler: async (ctx) =>
          (
            await sql<{
              message_id: string;
            }>`select message_id from flotilla_outbox order by id`.execute(ctx.db)
          ).rows.map((r) => r.message_id),
      },
      /** Writes and emits, then calls an action that throws. */
      checkout: {
        params: z.object({ id: z.string(), payments: z.string() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await tx.db
              .insertInto("orders")
              .values({ id: ctx.params.id, item: "book", qty: 1 })
              .execute();
            await tx.emit("order.placed", { id: ctx.params.id });
            await ctx.call(`${ctx.params.payments}.charge`, {});
          }),
      },
      /** Writes and emits, then inserts the order `taken`. */
      twice: {
        params: z.object({ id: z.string() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await tx.db
              .insertInto("orders")
              .values({ id: ctx.params.id, item: "book", qty: 1 })
              .execute();
            await tx.emit("order.placed", { id: ctx.params.id });
            await tx.db
              .insertInto("orders")
              .values({ id: "taken", item: "book", qty: 1 })
              .execute();
          }),
      },
      /** A transaction in a transaction, then a write through ctx.db, then a throw if asked. */
      nested: {
        params: z.object({ fail: z.boolean() }),
        handler: (ctx) =>
          ctx.transaction(async (outer) => {
            await outer.db
              .insertInto("orders")
              .values({ id: "outer", item: "a", qty: 1 })
              .execute();
            await ctx.transaction(async (inner) => {
              await inner.db
                .insertInto("orders")
                .values({ id: "inner", item: "b", qty: 1 })
                .execute();
              await inner.emit("order.placed", { id: "inner" });
            });
            // Inside the transaction, ctx.db is the transaction too.
            await ctx.db
              .insertInto("orders")
              .values({ id: "via-ctx-db", item: "c", qty: 1 })
              .execute();
            if (ctx.params.fail) throw new Error("the outer transaction fails");
          }),
      },
      /** Writes and emits an event carrying `blob`. */
      big: {
        params: z.object({ id: z.string(), blob: z.string() }),
        handler: (ctx) =>
          ctx.transaction(async (tx) => {
            await tx.db
              .insertInto("orders")
              .values({ id: ctx.params.id, item: "big", qty: 1 })
              .execute();
            await tx.emit("order.placed", { blob: ctx.params.blob });
          }),
      },
    },
  });
}

/** The deliveries of `event` this broker's handlers finished, with what they threw. */
function handled(broker: ServiceBroker, event: string): { messageID?: string; error: unknown }[] {
  const seen: { messageID?: string; error: unknown }[] = [];
  broker.events.observe((ctx, _listener, error) => {
    if (ctx.name === event) seen.push({ messageID: ctx.messageID, error });
  });
  return seen;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The behaviour of a service's database every dialect owes: migrations, `ctx.db` everywhere a
 * handler runs, transactions with their outbox events, the inbox, coded errors, health. Every
 * test has its own services (names with a random suffix), its own memory:// bus, and its data
 * deleted after it.
 */
export function runDataSuite(name: string, makeTarget: () => Promise<DataTarget>): void {
  describe(`data on ${name}`, () => {
    const kit = dataKit(makeTarget);

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
                await ctx.db
                  .insertInto("orders")
                  .values({ ...ctx.params, qty: 2 })
                  .execute();
                return ctx.db
                  .selectFrom("orders")
                  .selectAll()
                  .where("id", "=", ctx.params.id)
                  .executeTakeFirstOrThrow();
              },
            },
            list: {
              handler: async (ctx) =>
                (await ctx.db.selectFrom("orders").select("id").orderBy("id").execute()).map(
                  (r) => r.id,
                ),
            },
          },
          async started(service) {
            await service.db
              .insertInto("orders")
              .values({ id: "seed", item: "a", qty: 1 })
              .execute();
            await service.transaction(async (tx) => {
              await tx.db
                .insertInto("orders")
                .values({ id: "seed-tx", item: "b", qty: 1 })
                .execute();
            });
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
        const node = await k.start(
          defineService({
            name,
            database: shopDatabase(),
            timers: {
              tick: {
                every: 20,
                async handler(ctx) {
                  await ctx.db.insertInto("ticks").values({ timer: "tick" }).execute();
                },
              },
            },
            actions: {
              ticks: {
                handler: async (ctx) =>
                  (await ctx.db.selectFrom("ticks").selectAll().execute()).length,
              },
            },
          }),
        );
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

        const failing = k.broker(
          service({
            ...first,
            "002_extra": extra,
            "003_broken": {
              async up(db: Kysely<unknown>) {
                await db.schema.createTable("extra_two").addColumn("id", "text").execute();
                await sql`select * from no_such_table`.execute(db);
              },
            },
          }),
        );
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

        await k.start(
          service({
            ...first,
            "002_extra": extra,
            "003_broken": {
              async up(db: Kysely<unknown>) {
                await db.schema.createTable("extra_two").addColumn("id", "text").execute();
              },
            },
          }),
        );
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
                    await ctx.db
                      .insertInto("orders")
                      .values({ id: "1", item: "x", qty: 1 })
                      .execute();
                    await ctx.db
                      .insertInto("ledger")
                      .values({ message_id: "m", amount: 1 })
                      .execute();
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
            await expect(node.call(`${name}.add`)).resolves.toEqual([
              { id: "1", item: "x", qty: 1 },
            ]);
            const tables = await k.target.tables(name);
            expect(tables).toEqual(expect.arrayContaining(["orders", "ledger"]));
          }
        } finally {
          await rm(folder, { recursive: true, force: true });
        }
      });
    });

    describe("transactions and the outbox", () => {
      it("publishes a committed event once to a durable handler on another node, with its message ID and the caller's request ID, meta and headers", async () => {
        const k = kit();
        const name = k.name("shop");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const node = await k.start(shop(name));

        await expect(
          node.call(
            `${name}.place`,
            { id: "o-1", messageID: "msg-o-1" },
            { requestID: "req-1", meta: { tenant: "acme" }, headers: { "x-trace": "trace-1" } },
          ),
        ).resolves.toEqual({ id: "o-1" });
        // A second event with the same key comes after the first: once it is here, a second
        // copy of the first would have come before it.
        await node.call(`${name}.place`, { id: "o-2" }, { requestID: "req-2" });
        await until(() => log.length >= 2, { message: "both events" });

        expect(log).toHaveLength(2);
        expect(log[0]).toEqual({
          params: { id: "o-1" },
          messageID: "msg-o-1",
          attempt: 1,
          requestID: "req-1",
          caller: name,
          meta: { tenant: "acme", step: "placed" },
          headers: { "x-trace": "trace-1", "x-step": "placed" },
        });
        expect(log[1]).toMatchObject({ params: { id: "o-2" }, requestID: "req-2" });
        expect(log[1]?.messageID).toMatch(UUID);
        await until(() => node.health().databases[name]?.outbox.published === 2, {
          message: "the relay's count of published events",
        });
      });

      it("leaves events in the outbox with relay: false, and another instance publishes them under the row's message ID", async () => {
        const k = kit();
        const name = k.name("shop");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const writer = await k.start(shop(name, { outbox: { relay: false } }));
        await writer.call(`${name}.place`, { id: "o-1" });
        await writer.call(`${name}.place`, { id: "o-2" });
        const waiting = (await writer.call(`${name}.outbox`)) as string[];
        expect(waiting).toHaveLength(2);
        expect(log).toEqual([]);

        // The writer stops (a process that died after its commits); another instance relays.
        await writer.stop();
        await k.start(shop(name));
        await until(() => log.length >= 2, { message: "the events the other instance relayed" });
        expect(log.map((d) => d.messageID)).toEqual(waiting);
        expect(log.map((d) => d.params)).toEqual([{ id: "o-1" }, { id: "o-2" }]);
      });

      it("keeps committed events while the message broker refuses them, and publishes them once it takes them", async () => {
        const k = kit();
        const name = k.name("shop");
        // No consumer group reads `order.placed` yet: the memory streams refuse the publish.
        const node = await k.start(shop(name, { outbox: { pollInterval: 20 } }));
        await node.call(`${name}.place`, { id: "o-1" });
        await node.call(`${name}.place`, { id: "o-2" });
        const waiting = await until(
          () => {
            const db = node.health().databases[name];
            return db !== undefined && db.outbox.backlog === 2 && db.outbox.oldestAge > 0 && db;
          },
          { message: "a backlog of two in health" },
        );
        expect(waiting).toMatchObject({ ok: true, outbox: { published: 0, failed: 0 } });

        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        await until(() => log.length >= 2, { message: "the events kept in the outbox" });
        expect(log.map((d) => d.params)).toEqual([{ id: "o-1" }, { id: "o-2" }]);
        await until(() => node.health().databases[name]?.outbox.backlog === 0, {
          message: "an empty backlog",
        });
      });

      it("rolls back the rows and the events of a transaction whose callback throws; the caller gets the error", async () => {
        const k = kit();
        const name = k.name("shop");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const node = await k.start(shop(name));
        const caller = await k.start([]);
        await caller.waitForServices(name);

        await expect(
          caller.call(`${name}.place`, { id: "o-1", fail: "payment declined" }),
        ).rejects.toThrow("payment declined");
        await node.call(`${name}.place`, { id: "o-2" });
        await until(() => log.length >= 1, { message: "the committed event" });
        await expect(node.call(`${name}.list`)).resolves.toEqual(["o-2"]);
        expect(log.map((d) => d.params)).toEqual([{ id: "o-2" }]);
      });

      it("rolls back when a handler called inside the transaction throws, or a query in it fails", async () => {
        const k = kit();
        const name = k.name("shop");
        const payments = k.name("payments");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const node = await k.start([
          defineService({
            name: payments,
            actions: {
              charge: {
                handler() {
                  throw new FlotillaError("The card was declined.", "CARD_DECLINED", 402);
                },
              },
            },
          }),
          shop(name),
        ]);
        const caller = await k.start([]);
        await caller.waitForServices(name);

        await expect(
          caller.call(`${name}.checkout`, { id: "o-1", payments }),
        ).rejects.toMatchObject({
          code: "CARD_DECLINED",
          status: 402,
          message: "The card was declined.",
        });
        await node.call(`${name}.place`, { id: "taken" });
        await expect(caller.call(`${name}.twice`, { id: "o-2-a" })).rejects.toMatchObject({
          code: "CONFLICT",
        });
        await node.call(`${name}.place`, { id: "zz-last" });
        await until(() => log.length >= 2, { message: "the two committed events" });
        await expect(node.call(`${name}.list`)).resolves.toEqual(["taken", "zz-last"]);
        expect(log.map((d) => d.params)).toEqual([{ id: "taken" }, { id: "zz-last" }]);
      });

      it("joins a transaction called inside another: a throw after the inner one rolls back both", async () => {
        const k = kit();
        const name = k.name("shop");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const node = await k.start(shop(name));

        await expect(node.call(`${name}.nested`, { fail: true })).rejects.toThrow(
          "the outer transaction fails",
        );
        await expect(node.call(`${name}.list`)).resolves.toEqual([]);
        await node.call(`${name}.nested`, { fail: false });
        await expect(node.call(`${name}.list`)).resolves.toEqual(["inner", "outer", "via-ctx-db"]);
        await until(() => log.length >= 1, { message: "the inner transaction's event" });
        await node.call(`${name}.place`, { id: "last" });
        await until(() => log.length >= 2, { message: "the event after it" });
        expect(log.map((d) => d.params)).toEqual([{ id: "inner" }, { id: "last" }]);
      });

      it("does not hand a finished transaction to the handlers of events emitted inside it", async () => {
        const k = kit();
        const name = k.name("audit");
        let release!: () => void;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        const node = await k.start(
          defineService({
            name,
            database: shopDatabase(),
            actions: {
              record: {
                params: z.object({ id: z.string() }),
                handler: (ctx) =>
                  ctx.transaction(async (tx) => {
                    await tx.db
                      .insertInto("orders")
                      .values({ id: ctx.params.id, item: "audited", qty: 1 })
                      .execute();
                    // Plain emits (not tx.emit) from inside the transaction: their handlers
                    // start here and go on after the commit.
                    await ctx.emit("audit.local", { id: ctx.params.id });
                    await ctx.emit("audit.durable", { id: ctx.params.id }, { durable: true });
                  }),
              },
              ledger: {
                handler: (ctx) =>
                  ctx.db.selectFrom("ledger").select("message_id").orderBy("message_id").execute(),
              },
              list: {
                handler: async (ctx) =>
                  (await ctx.db.selectFrom("orders").select("id").execute()).map((r) => r.id),
              },
            },
            events: {
              "audit.local": {
                async handler(ctx) {
                  await released;
                  await ctx.db
                    .insertInto("ledger")
                    .values({ message_id: "local", amount: 1 })
                    .execute();
                },
              },
              "audit.durable": {
                durable: true,
                inbox: true,
                maxRetries: 2,
                backoff: FAST,
                async handler(ctx) {
                  await ctx.db
                    .insertInto("ledger")
                    .values({ message_id: "durable", amount: 1 })
                    .execute();
                },
              },
            },
          }),
        );
        const local = handled(node, "audit.local");
        const durable = handled(node, "audit.durable");
        await node.call(`${name}.record`, { id: "a-1" });
        release();
        await until(() => local.length > 0 && durable.length > 0, {
          message: "both handlers to finish",
        });
        expect([...local, ...durable].map((d) => d.error)).toEqual([undefined, undefined]);
        await expect(node.call(`${name}.ledger`)).resolves.toEqual([
          { message_id: "durable" },
          { message_id: "local" },
        ]);
        await expect(node.call(`${name}.list`)).resolves.toEqual(["a-1"]);
      });

      it("publishes the events of one key in commit order", async () => {
        const k = kit();
        const name = k.name("seq");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("reader"), "seq.step", log));
        const node = await k.start(
          defineService({
            name,
            database: shopDatabase(),
            actions: {
              step: {
                params: z.object({ n: z.number() }),
                handler: (ctx) =>
                  ctx.transaction(async (tx) => {
                    await tx.db
                      .insertInto("orders")
                      .values({ id: `s-${ctx.params.n}`, item: "step", qty: ctx.params.n })
                      .execute();
                    await tx.emit("seq.step", { n: ctx.params.n }, { key: "one-key" });
                  }),
              },
            },
          }),
        );
        const steps = Array.from({ length: 50 }, (_, n) => n);
        for (const n of steps) await node.call(`${name}.step`, { n });
        await until(() => log.length >= 50, { timeout: 10_000, message: "fifty events" });
        expect(log.map((d) => (d.params as { n: number }).n)).toEqual(steps);
      });

      it("refuses an event larger than maxPacketSize in the transaction, which rolls back", async () => {
        const k = kit();
        const name = k.name("shop");
        const node = await k.start(shop(name), { maxPacketSize: 4096 });
        const ascii = await rejection(
          node.call(`${name}.big`, { id: "b-1", blob: "x".repeat(5000) }),
        );
        expect(ascii).toBeInstanceOf(PacketTooLargeError);
        expect(ascii).toMatchObject({ code: "PACKET_TOO_LARGE", status: 413 });
        // 2,000 characters, 6,000 bytes once encoded: the limit is in bytes.
        const wide = await rejection(
          node.call(`${name}.big`, { id: "b-2", blob: "€".repeat(2000) }),
        );
        expect(wide).toMatchObject({ code: "PACKET_TOO_LARGE" });
        await expect(node.call(`${name}.list`)).resolves.toEqual([]);
        await node.call(`${name}.big`, { id: "b-3", blob: "small" });
        await expect(node.call(`${name}.list`)).resolves.toEqual(["b-3"]);
      });
      it("sets aside an event the message broker refuses for good: failed, not waiting, and not holding back the events after it", async () => {
        const k = kit();
        const name = k.name("shop");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const node = await k.start(shop(name, { outbox: { pollInterval: 20 } }), {
          maxPacketSize: 4096,
        });
        // The payload, meta and headers fit (tx.emit checks them); with the packet's own fields
        // (IDs, sender, event name) the packet does not: refused when published.
        await node.call(`${name}.big`, { id: "o-1", blob: "x".repeat(4030) });
        await node.call(`${name}.place`, { id: "o-2" });
        await until(() => log.length >= 1, { message: "the event after the refused one" });
        expect(log.map((d) => d.params)).toEqual([{ id: "o-2" }]);
        // The relay counts after its round: the delivery may come first.
        await until(
          () => {
            const outbox = node.health().databases[name]?.outbox;
            return outbox?.failed === 1 && outbox.published === 1;
          },
          { message: "the refused event counted as failed, the other as published" },
        );
        await node.stop();

        // Started again, its first probe reads the table: one failed row, and nothing waiting.
        const again = await k.start(shop(name, { outbox: { pollInterval: 20 } }));
        const outbox = await until(
          () => {
            const health = again.health().databases[name]?.outbox;
            return health?.failed === 1 && health;
          },
          { message: "the probe of the restarted node" },
        );
        expect(outbox).toEqual({ backlog: 0, oldestAge: 0, failed: 1, published: 0 });
        expect(again.health().ready).toBe(true);
      });
    });

    describe("the inbox", () => {
      /** The billing service: books each payment in the ledger, through the inbox. */
      function billing(name: string, onRun: (ctx: Context<unknown>) => void) {
        return defineService({
          name,
          database: shopDatabase(),
          events: {
            "payment.received": {
              durable: true,
              inbox: true,
              backoff: FAST,
              params: z.object({ amount: z.number() }),
              async handler(ctx) {
                await ctx.db
                  .insertInto("ledger")
                  .values({ message_id: ctx.messageID ?? "", amount: ctx.params.amount })
                  .execute();
                // Its events join the inbox transaction too.
                await ctx.transaction((tx) =>
                  tx.emit("payment.booked", { messageID: ctx.messageID }),
                );
                onRun(ctx);
              },
            },
          },
          actions: {
            ledger: {
              handler: (ctx) =>
                ctx.db.selectFrom("ledger").selectAll().orderBy("message_id").execute(),
            },
          },
        });
      }

      it("applies a message delivered twice once", async () => {
        const k = kit();
        const name = k.name("billing");
        const runs: (string | undefined)[] = [];
        const booked: Delivery[] = [];
        await k.start(recorder(k.name("books"), "payment.booked", booked));
        const node = await k.start(billing(name, (ctx) => runs.push(ctx.messageID)));
        const deliveries = handled(node, "payment.received");

        await node.emit("payment.received", { amount: 5 }, { durable: true, messageID: "pay-1" });
        await node.emit("payment.received", { amount: 5 }, { durable: true, messageID: "pay-1" });
        await node.emit("payment.received", { amount: 7 }, { durable: true, messageID: "pay-2" });
        await until(() => deliveries.length >= 3, { message: "three deliveries" });

        expect(deliveries.map((d) => d.error)).toEqual([undefined, undefined, undefined]);
        expect(deliveries.map((d) => d.messageID).sort()).toEqual(["pay-1", "pay-1", "pay-2"]);
        expect([...runs].sort()).toEqual(["pay-1", "pay-2"]);
        await expect(node.call(`${name}.ledger`)).resolves.toEqual([
          { message_id: "pay-1", amount: 5 },
          { message_id: "pay-2", amount: 7 },
        ]);
        await until(() => booked.length >= 2, { message: "the booked events" });
        expect(booked.map((d) => d.params)).toEqual(
          expect.arrayContaining([{ messageID: "pay-1" }, { messageID: "pay-2" }]),
        );
      });

      it("rolls back the inbox record and the writes of a handler that throws; the retry applies the effect once", async () => {
        const k = kit();
        const name = k.name("billing");
        const attempts: (number | undefined)[] = [];
        const booked: Delivery[] = [];
        await k.start(recorder(k.name("books"), "payment.booked", booked));
        const node = await k.start(
          billing(name, (ctx) => {
            attempts.push(ctx.attempt);
            if (ctx.attempt === 1) throw new Error("the ledger is flaky");
          }),
        );
        const deliveries = handled(node, "payment.received");

        await node.emit("payment.received", { amount: 5 }, { durable: true, messageID: "pay-1" });
        await until(() => deliveries.some((d) => d.error === undefined), {
          message: "a successful retry",
        });
        expect(attempts).toEqual([1, 2]);
        expect(deliveries.map((d) => (d.error as Error | undefined)?.message)).toEqual([
          "the ledger is flaky",
          undefined,
        ]);
        await expect(node.call(`${name}.ledger`)).resolves.toEqual([
          { message_id: "pay-1", amount: 5 },
        ]);

        // A second payment's event comes after the first's (same key): by then a copy of the
        // rolled-back attempt's event would be here.
        await node.emit("payment.received", { amount: 7 }, { durable: true, messageID: "pay-2" });
        await until(() => booked.length >= 2, { message: "the booked events" });
        expect(booked.map((d) => d.params)).toEqual([
          { messageID: "pay-1" },
          { messageID: "pay-2" },
        ]);
      });
    });

    describe("errors", () => {
      /** A shop with an action that inserts the given row, and one that runs a broken query. */
      function errors(name: string) {
        return defineService({
          name,
          database: shopDatabase(),
          actions: {
            add: {
              params: z.object({ id: z.string(), item: z.string() }),
              handler: async (ctx) => {
                await ctx.db
                  .insertInto("orders")
                  .values({ ...ctx.params, qty: 1 })
                  .execute();
              },
            },
            broken: {
              handler: async (ctx) => {
                await sql`select * from nope_not_here`.execute(ctx.db);
              },
            },
          },
        });
      }

      it("answers a duplicate insert with CONFLICT 409 on another node, without SQL or values in the error", async () => {
        const k = kit();
        const name = k.name("store");
        const node = await k.start(errors(name));
        const caller = await k.start([]);
        await caller.waitForServices(name);
        const row = { id: "dup-id-7f3", item: "s3cret-item-value" };

        await caller.call(`${name}.add`, row);
        const remote = await rejection(caller.call(`${name}.add`, row));
        expect(remote).toBeInstanceOf(ConflictError);
        expect(remote).toMatchObject({
          code: "CONFLICT",
          status: 409,
          retryable: false,
          data: { reason: k.target.conflictReason },
        });
        expect(driverErrorOf(remote)).toBeUndefined();
        const text = errorText(remote).toLowerCase();
        for (const secret of ["dup-id-7f3", "s3cret-item-value", "orders", "item", "insert"]) {
          expect(text).not.toContain(secret);
        }
        // The stacks that travel with it name code, never the values.
        const stacks = errorText(remote, { stack: true });
        for (const value of ["dup-id-7f3", "s3cret-item-value"])
          expect(stacks).not.toContain(value);

        // On the node that ran the query, the driver's own error is there for its code.
        const local = await rejection(node.call(`${name}.add`, row));
        expect(local).toBeInstanceOf(ConflictError);
        expect(String((driverErrorOf(local) as Error | undefined)?.message)).toMatch(
          k.target.conflictDriverMessage,
        );
        expect(errorText(local, { stack: true })).not.toContain("s3cret-item-value");
      });

      it("answers a broken query with DB_ERROR naming the database's reason, without the SQL", async () => {
        const k = kit();
        const name = k.name("store");
        await k.start(errors(name));
        const caller = await k.start([]);
        await caller.waitForServices(name);

        const err = await rejection(caller.call(`${name}.broken`));
        expect(err).toBeInstanceOf(DatabaseError);
        expect(err).toMatchObject({
          code: "DB_ERROR",
          status: 500,
          retryable: false,
          data: { reason: k.target.missingTableReason },
        });
        expect(errorText(err, { stack: true })).not.toContain("nope_not_here");
        expect(errorText(err).toLowerCase()).not.toContain("select");
      });
    });

    describe("health", () => {
      it("shows each database's dialect, location, state and outbox counters", async () => {
        const k = kit();
        const name = k.name("shop");
        const log: Delivery[] = [];
        await k.start(recorder(k.name("shipping"), "order.placed", log));
        const node = await k.start(shop(name));
        for (const id of ["o-1", "o-2", "o-3"]) await node.call(`${name}.place`, { id });
        await until(() => node.health().databases[name]?.outbox.published === 3, {
          message: "three published events in health",
        });
        const health = node.health();
        expect(health.ready).toBe(true);
        expect(health.databases[name]).toMatchObject({
          dialect: k.target.dialect,
          location: k.target.location(name),
          ok: true,
          outbox: { failed: 0, published: 3 },
        });
        expect(health.databases[name]?.error).toBeUndefined();
        if (k.target.dialect === "postgres") {
          const pool = health.databases[name]?.pool;
          if (pool === undefined) throw new Error("no pool in the health of a PostgreSQL database");
          expect(pool.waiting).toBe(0);
          // The handlers' connections: at most poolSize (default 10; the relay may keep one).
          expect(pool.max).toBeGreaterThan(0);
          expect(pool.max).toBeLessThanOrEqual(10);
          expect(pool.size).toBeGreaterThan(0);
          expect(pool.size).toBeLessThanOrEqual(pool.max);
          expect(pool.idle).toBeLessThanOrEqual(pool.size);
        } else {
          expect(health.databases[name]?.pool).toBeUndefined();
        }
        // Services without a database have no entry.
        expect(Object.keys(health.databases)).toEqual([name]);
      });

      it("is not ready while a database fails its probe", async () => {
        const k = kit();
        const name = k.name("shop");
        let db: Kysely<ShopDB> | undefined;
        const node = await k.start(
          defineService({
            name,
            database: shopDatabase({ outbox: { pollInterval: 20 } }),
            started(service) {
              db = service.db;
            },
          }),
        );
        await until(() => node.health().databases[name]?.ok === true, { message: "a good probe" });
        expect(node.health().ready).toBe(true);
        if (db === undefined) throw new Error("started did not run");
        // The relay's table goes: its next round fails.
        await sql`drop table flotilla_outbox`.execute(db);
        const failing = await until(
          () => {
            const health = node.health();
            return health.databases[name]?.ok === false && health;
          },
          { message: "a failed probe" },
        );
        expect(failing.ready).toBe(false);
        expect(failing.databases[name]?.error).toBe("DB_ERROR");
      });
    });
  });
}
