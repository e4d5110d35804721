import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseError, defineService, type ServiceBroker } from "flotilla";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { freePort, reachable, until } from "../harness/index.js";
import { type DataTarget, dataKit, errorText, rejection, shopDatabase } from "./fixtures.js";
import { runDataSuite } from "./suite/index.js";

// The data suite on the PostgreSQL of this machine (database `test`, user `postgres`, trust on
// 127.0.0.1). Every service of a test has a name with a random suffix, so a schema of its own;
// the schemas are dropped after the test. A server that is down fails the file with the command
// that starts it.

const URL = "postgres://postgres@127.0.0.1:5432/test";
const START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/** Fails, naming the command that starts it, when the PostgreSQL of the tests is not there. */
async function requirePostgres(): Promise<void> {
  if (!(await reachable(5432))) {
    throw new Error(
      `PostgreSQL is not reachable on 127.0.0.1:5432. Start it with:\n  ${START}\n` +
        "(bash .ci/services.sh starts every server the tests use, and creates database `test`.)",
    );
  }
  const client = new pg.Client({ connectionString: URL });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (err) {
    throw new Error(
      `PostgreSQL answers on 127.0.0.1:5432, but not as user postgres on database test ` +
        `(${(err as Error).message}). Create it with:\n` +
        `  psql -h 127.0.0.1 -U postgres -d postgres -c "create database test"\n` +
        "(bash .ci/services.sh does it too.)",
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

await requirePostgres();

/** The tests' own connections, to look at schemas and drop them. */
const admin = new pg.Pool({ connectionString: URL, max: 2 });
afterAll(() => admin.end());

async function tablesIn(schema: string): Promise<string[]> {
  const { rows } = await admin.query<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = $1",
    [schema],
  );
  return rows.map((r) => r.table_name);
}

async function dropSchemas(schemas: readonly string[]): Promise<void> {
  for (const schema of schemas) {
    if (!/^[a-z0-9_]+$/.test(schema)) throw new Error(`not a test schema: ${schema}`);
    await admin.query(`drop schema if exists "${schema}" cascade`);
  }
}

async function postgresTarget(): Promise<DataTarget> {
  return {
    dialect: "postgres",
    database: () => ({ url: URL }),
    location: (service) => `127.0.0.1:5432/test (schema ${service})`,
    tables: tablesIn,
    cleanup: dropSchemas,
    missingTableReason: "42P01",
    conflictReason: "23505",
    conflictDriverMessage: /duplicate key value violates unique constraint/,
  };
}

runDataSuite("PostgreSQL", postgresTarget);

describe("data on PostgreSQL only", () => {
  const kit = dataKit(postgresTarget);

  /** A service with the `orders` table of the suite, and actions to add and count orders. */
  function orders(name: string, options: Parameters<typeof shopDatabase>[0] = {}) {
    return defineService({
      name,
      database: shopDatabase(options),
      actions: {
        add: {
          handler: async (ctx) => {
            await ctx.db
              .insertInto("orders")
              .values({ id: `${name}-1`, item: "x", qty: 1 })
              .execute();
          },
        },
        ids: {
          handler: async (ctx) =>
            (await ctx.db.selectFrom("orders").select("id").execute()).map((r) => r.id),
        },
        sleep: {
          params: z.object({ seconds: z.number() }),
          handler: async (ctx) => {
            await sql`select pg_sleep(${ctx.params.seconds})`.execute(ctx.db);
          },
        },
        isolation: {
          handler: (ctx) =>
            ctx.transaction(
              async (tx) =>
                (
                  await sql<{
                    level: string;
                  }>`select current_setting('transaction_isolation') as level`.execute(tx.db)
                ).rows[0]?.level,
              { isolation: "serializable" },
            ),
        },
      },
    });
  }

  it("keeps two services with the same table name in one database apart, each in its schema", async () => {
    const k = kit();
    const a = k.name("left");
    const b = k.name("right");
    const node = await k.start([orders(a), orders(b)]);
    await node.call(`${a}.add`);
    await expect(node.call(`${a}.ids`)).resolves.toEqual([`${a}-1`]);
    await expect(node.call(`${b}.ids`)).resolves.toEqual([]);
    expect(await tablesIn(a)).toContain("orders");
    expect(await tablesIn(b)).toContain("orders");
    const { rows } = await admin.query<{ id: string }>(`select id from "${a}".orders`);
    expect(rows).toEqual([{ id: `${a}-1` }]);
  });

  it("uses a declared schema", async () => {
    const k = kit();
    const name = k.name("shop");
    const schema = k.name("custom");
    const node = await k.start(orders(name, { schema }));
    await node.call(`${name}.add`);
    expect(await tablesIn(schema)).toContain("orders");
    expect(await tablesIn(name)).toEqual([]);
    expect(node.health().databases[name]?.location).toBe(`127.0.0.1:5432/test (schema ${schema})`);
  });

  it("takes $FLOTILLA_DB_URL_<SERVICE> over the declaration's url", async () => {
    const k = kit();
    const name = k.name("shop");
    const dir = await mkdtemp(join(tmpdir(), "flotilla-pg-env-"));
    const declared = join(dir, "declared.sqlite");
    const variable = `FLOTILLA_DB_URL_${name.toUpperCase()}`;
    process.env[variable] = URL;
    try {
      const node = await k.start(orders(name, { url: `sqlite:${declared}` }));
      await node.call(`${name}.add`);
      expect(node.health().databases[name]).toMatchObject({
        dialect: "postgres",
        location: `127.0.0.1:5432/test (schema ${name})`,
      });
      expect(await tablesIn(name)).toContain("orders");
      expect(existsSync(declared)).toBe(false);
    } finally {
      delete process.env[variable];
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("cancels a statement beyond statementTimeout: DB_ERROR 57014, retryable, without the SQL", async () => {
    const k = kit();
    const name = k.name("slow");
    // Not much shorter: the migrations at start (and their wait for the database-wide migration
    // lock) run under it too.
    await k.start(orders(name, { statementTimeout: 1_000 }));
    const caller = await k.start([]);
    await caller.waitForServices(name);
    const err = await rejection(caller.call(`${name}.sleep`, { seconds: 3 }));
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err).toMatchObject({
      code: "DB_ERROR",
      retryable: true,
      data: { reason: "57014" },
      message: "The database query took too long and was cancelled.",
    });
    expect(errorText(err, { stack: true })).not.toContain("pg_sleep");
  });

  it("runs a transaction at the isolation level asked for", async () => {
    const k = kit();
    const name = k.name("iso");
    const node = await k.start(orders(name));
    await expect(node.call(`${name}.isolation`)).resolves.toBe("serializable");
  });

  it("shows the pool in health, with callers waiting while every connection is busy, and no password", async () => {
    const k = kit();
    const name = k.name("pool");
    const node = await k.start(orders(name, { poolSize: 2 }), {
      database: { url: "postgres://postgres:hunter2-secret@127.0.0.1:5432/test" },
    });
    const calls = Array.from({ length: 5 }, () => node.call(`${name}.sleep`, { seconds: 0.3 }));
    const busy = await until(
      () => {
        const pool = node.health().databases[name]?.pool;
        return pool !== undefined && pool.size === pool.max && pool.waiting > 0 && pool;
      },
      { message: "every connection open and callers waiting" },
    );
    expect(busy.idle).toBe(0);
    // The handlers' connections: at most poolSize (the relay may keep one of them).
    expect(busy.max).toBeGreaterThan(0);
    expect(busy.max).toBeLessThanOrEqual(2);
    await Promise.all(calls);
    const health = node.health();
    expect(health.databases[name]?.pool).toMatchObject({ waiting: 0, max: busy.max });
    expect(health.databases[name]?.location).toBe(`127.0.0.1:5432/test (schema ${name})`);
    expect(JSON.stringify(health)).not.toContain("hunter2-secret");
  });

  it("refuses to start when the server cannot be reached: DB_ERROR, retryable, without the password", async () => {
    const k = kit();
    const name = k.name("nowhere");
    const port = await freePort();
    const node = k.broker(orders(name), {
      database: { url: `postgres://postgres:hunter2-secret@127.0.0.1:${port}/test` },
    });
    const err = await rejection(node.start());
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err).toMatchObject({
      code: "DB_ERROR",
      retryable: true,
      message: "The database cannot be reached.",
    });
    expect(errorText(err, { stack: true })).not.toContain("hunter2-secret");
    expect(node.state).toBe("stopped");
  });

  it("publishes each event once while two instances relay one outbox", async () => {
    const k = kit();
    const name = k.name("shop");
    const seen: string[] = [];
    const consumer = k.name("reader");
    await k.start(
      defineService({
        name: consumer,
        events: {
          "order.added": {
            durable: true,
            handler(ctx) {
              seen.push(String((ctx.params as { id: unknown }).id));
            },
          },
        },
      }),
    );
    const writer = (node: string) =>
      defineService({
        name,
        database: shopDatabase({ outbox: { pollInterval: 20, batchSize: 7 } }),
        actions: {
          add: {
            handler: (ctx) =>
              ctx.transaction(async (tx) => {
                const id = `${node}-${Math.random().toString(36).slice(2)}`;
                await tx.db.insertInto("orders").values({ id, item: node, qty: 1 }).execute();
                await tx.emit("order.added", { id }, { key: id });
                return id;
              }),
          },
        },
      });
    const nodes: ServiceBroker[] = [await k.start(writer("a")), await k.start(writer("b"))];
    const ids = (
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => nodes[i % 2]!.call(`${name}.add`) as Promise<string>),
      )
    ).sort();
    await until(() => seen.length >= ids.length, { timeout: 10_000, message: "every event" });
    // Each relay counts what it published: together, every event once.
    const published = () =>
      nodes.reduce((sum, n) => sum + (n.health().databases[name]?.outbox.published ?? 0), 0);
    await until(() => published() >= ids.length, { message: "the relays' counts" });
    expect(published()).toBe(ids.length);
    expect([...seen].sort()).toEqual(ids);
    expect(nodes.map((n) => n.health().databases[name]?.outbox.published)).not.toContain(0);
  });
});

const kit = dataKit(postgresTarget);

describe("PostgreSQL: a call's deadline reaches its transaction", () => {
  it("cancels the running query and rolls back when the caller timed out", async () => {
    const k = kit();
    const name = k.name("slowtx");
    let failed: (err: unknown) => void = () => {};
    const ended = new Promise<unknown>((resolve) => {
      failed = resolve;
    });
    const service = defineService({
      name,
      database: shopDatabase(),
      actions: {
        slow: {
          handler: (ctx) =>
            ctx
              .transaction(async (tx) => {
                await tx.db
                  .insertInto("orders")
                  .values({ id: "o-1", item: "kept?", qty: 1 })
                  .execute();
                await sql`select pg_sleep(60)`.execute(tx.db);
                return "done";
              })
              .catch((err: unknown) => {
                failed(err);
                throw err;
              }),
        },
      },
    });
    await k.start(service);
    const caller = await k.start([]);
    await caller.waitForServices([name], 10_000);
    const call = caller.call(`${name}.slow`, {}, { timeout: 500 });
    await expect(call).rejects.toMatchObject({ code: "REQUEST_TIMEOUT" });
    // The server cancelled pg_sleep at the caller's deadline (57014), long before its 60 s.
    expect(await ended).toMatchObject({ code: "DB_ERROR", data: { reason: "57014" } });
    const { rows } = await admin.query(`select count(*)::int as n from "${name}".orders`);
    expect(rows[0]).toEqual({ n: 0 });
  });
});
