import { randomBytes } from "node:crypto";
import {
  type AnyServiceDefinition,
  type BrokerDatabaseOptions,
  type BrokerOptions,
  type DatabaseOptions,
  defineDatabase,
  FlotillaError,
  ServiceBroker,
} from "flotilla";
import { memoryBuses } from "flotilla/testing";
import type { Kysely } from "kysely";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";

/**
 * What the data suite needs from one dialect: where the services of a test keep their data, how
 * to look at it from outside (to see what a failed migration left), and how to clean it away.
 */
export interface DataTarget {
  readonly dialect: "sqlite" | "postgres";
  /** The broker's `database` defaults for the services of one test. */
  database(): BrokerDatabaseOptions;
  /** What `broker.health()` shows as the location of the database of `service`. */
  location(service: string): string;
  /** The tables in the store of `service` (its SQLite file, or its PostgreSQL schema). */
  tables(service: string): Promise<string[]>;
  /** Deletes what the services of one test left (files, schemas). */
  cleanup(services: readonly string[]): Promise<void>;
  /** `data.reason` of a query on a table that does not exist. */
  readonly missingTableReason: string;
  /** `data.reason` of a duplicate primary key. */
  readonly conflictReason: string;
  /** The driver's own message of a duplicate primary key (kept on the node, never sent). */
  readonly conflictDriverMessage: RegExp;
}

/** The tables of the services the suite defines. */
export interface ShopDB {
  orders: { id: string; item: string; qty: number };
  /** No key: a handler that ran twice leaves two rows. */
  ledger: { message_id: string; amount: number };
  ticks: { timer: string };
}

/** Migrations of {@link ShopDB}, portable between SQLite and PostgreSQL. */
export const shopMigrations = {
  "001_orders": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("orders")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("item", "text", (c) => c.notNull())
        .addColumn("qty", "integer", (c) => c.notNull().defaultTo(1))
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("orders").execute();
    },
  },
  "002_ledger": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("ledger")
        .addColumn("message_id", "text", (c) => c.notNull())
        .addColumn("amount", "integer", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("ticks")
        .addColumn("timer", "text", (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("ticks").execute();
      await db.schema.dropTable("ledger").execute();
    },
  },
};

/** The database declaration of a shop service, with extra options. */
export function shopDatabase(options: Omit<DatabaseOptions, "migrations"> = {}) {
  return defineDatabase<ShopDB>({ migrations: shopMigrations, ...options });
}

/** A short random suffix: service names, buses and schemas no other test (or run) uses. */
export function suffix(): string {
  return randomBytes(4).toString("hex");
}

/** The nodes, names and data of the current test of a data suite. */
export interface DataKit {
  readonly target: DataTarget;
  /** The memory:// bus of this test (its own, so no other test's events meet its own). */
  readonly bus: string;
  /** A service name no other test uses (`orders_1a2b3c4d`), cleaned up after the test. */
  name(base: string): string;
  /** A node on the test's bus with the test's database defaults, stopped after the test. */
  broker(
    services: AnyServiceDefinition | readonly AnyServiceDefinition[],
    options?: BrokerOptions,
  ): ServiceBroker;
  /** {@link DataKit.broker}, started. */
  start(
    services: AnyServiceDefinition | readonly AnyServiceDefinition[],
    options?: BrokerOptions,
  ): Promise<ServiceBroker>;
}

const ENV = ["FLOTILLA_DB_URL", "FLOTILLA_DATA_DIR"] as const;

/**
 * Sets up one data test file on a dialect: a fresh {@link DataTarget} and memory:// bus per test,
 * every node stopped and every service's data deleted after it. The `FLOTILLA_DB_URL` and
 * `FLOTILLA_DATA_DIR` of the environment are put aside while the file runs, so they cannot send
 * the suite's services elsewhere.
 */
export function dataKit(makeTarget: () => Promise<DataTarget>): () => DataKit {
  let current: DataKit | undefined;
  const brokers: ServiceBroker[] = [];
  const names: string[] = [];
  let busName = "";
  let target: DataTarget | undefined;
  let seq = 0;
  const saved = new Map<string, string | undefined>();

  beforeAll(() => {
    for (const key of ENV) {
      saved.set(key, process.env[key]);
      delete process.env[key];
    }
  });
  afterAll(() => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  beforeEach(async () => {
    target = await makeTarget();
    busName = `data-${suffix()}`;
    const t = target;
    const broker: DataKit["broker"] = (services, options = {}) => {
      const node = new ServiceBroker({
        nodeID: `data-${process.pid}-${++seq}`,
        logger: false,
        transporter: `memory://${busName}`,
        database: t.database(),
        ...options,
      });
      for (const s of [services].flat()) node.createService(s);
      brokers.push(node);
      return node;
    };
    current = {
      target: t,
      bus: busName,
      name(base) {
        const name = `${base}_${suffix()}`;
        names.push(name);
        return name;
      },
      broker,
      async start(services, options) {
        const node = broker(services, options);
        await node.start();
        return node;
      },
    };
  });

  afterEach(async () => {
    const stopping = brokers.splice(0).reverse();
    const stopped = await Promise.allSettled(stopping.map((node) => node.stop()));
    memoryBuses.delete(busName);
    await target?.cleanup(names.splice(0));
    current = undefined;
    const failed = stopped.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  });

  return () => {
    if (current === undefined) throw new Error("the data kit is used outside a test");
    return current;
  };
}

/**
 * What a caller reads from an error: message, code and data, then the same of each `cause` down
 * the chain; with `stack`, the stacks too.
 */
export function errorText(err: unknown, { stack = false } = {}): string {
  const parts: string[] = [];
  let at: unknown = err;
  for (let depth = 0; at !== undefined && at !== null && depth < 10; depth++) {
    if (at instanceof Error) {
      parts.push(at.message);
      if (stack) parts.push(String(at.stack));
      if (at instanceof FlotillaError) parts.push(at.code, JSON.stringify(at.data) ?? "");
      at = at.cause;
    } else {
      parts.push(JSON.stringify(at) ?? String(at));
      at = undefined;
    }
  }
  return parts.join("\n");
}

/** The error a promise rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection, got a result");
}
