// What the fault tests of the data layer share: the databases (a SQLite file in a temporary
// folder, a PostgreSQL schema of the test's own), instances of `orders` in child processes
// (instance.ts), the consumer that records what arrives, and the tally of lost and duplicate
// events.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll } from "vitest";
import { defineService, ServiceBroker } from "../../../src/index.js";
import { deleteAmqpNamespace, deleteNatsNamespaces } from "../../events/durable/servers.js";
import { reachable, SHARED } from "../../harness/index.js";

export const PG_URL = "postgres://postgres@127.0.0.1:5432/test";
const PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/** Fails (never skips) when the local PostgreSQL is down, with the command that starts it. */
export async function requirePostgres(): Promise<void> {
  const down = (why: string) =>
    new Error(
      `PostgreSQL is not usable on 127.0.0.1:5432 (${why}). Start it with:\n  ${PG_START}\n` +
        "(bash .ci/services.sh starts every server the tests use.)",
    );
  if (!(await reachable(5432))) throw down("nothing listens");
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("select 1");
  } catch (err) {
    throw down((err as Error).message);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A unique name for this run: namespaces, schemas, node IDs. */
export function unique(tag: string): string {
  return `${tag}_${process.pid}_${randomBytes(3).toString("hex")}`;
}

export type Dialect = "sqlite" | "postgres";

/** The database of one test: where it is, and plain queries to count what is in it. */
export interface TestDatabase {
  readonly dialect: Dialect;
  /** The URL of `orders`' declaration (`sqlite:/…` or `postgres://…`). */
  readonly url: string;
  /** PostgreSQL: the test's schema. */
  readonly schema: string | undefined;
  /** What a child needs to open it (DB_URL, DB_SCHEMA). */
  readonly env: Record<string, string>;
  /** Runs a read-only query on the service's tables (unqualified names). */
  rows<T>(query: string): Promise<T[]>;
  /** Removes the file or drops the schema. */
  drop(): Promise<void>;
}

/** A fresh database of the dialect: a SQLite file in a new temporary folder, or a new schema. */
export function testDatabase(dialect: Dialect, tag: string): TestDatabase {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-data-faults-"));
    const file = join(dir, "orders.sqlite");
    return {
      dialect,
      url: `sqlite:${file}`,
      schema: undefined,
      env: { DB_URL: `sqlite:${file}` },
      async rows<T>(query: string): Promise<T[]> {
        // Read beside the writers (WAL): a connection per query, so none is left open.
        const db = new Database(file, { fileMustExist: true, timeout: 10_000 });
        try {
          return db.prepare(query).all() as T[];
        } finally {
          db.close();
        }
      },
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = unique(`faults_${tag}`).toLowerCase();
  const withClient = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({
      connectionString: PG_URL,
      options: `-c search_path=${schema}`,
    });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return {
    dialect,
    url: PG_URL,
    schema,
    env: { DB_URL: PG_URL, DB_SCHEMA: schema },
    rows: <T>(query: string) =>
      withClient(async (client) => (await client.query(query)).rows as T[]),
    drop: () =>
      withClient(async (client) => {
        await client.query(`drop schema if exists "${schema}" cascade`);
      }),
  };
}

/** Rows of `orders`' table, as numbers. */
export async function committedSeqs(db: TestDatabase): Promise<number[]> {
  const rows = await db.rows<{ seq: number | string }>("select seq from orders order by seq");
  return rows.map((r) => Number(r.seq));
}

/** How many rows the outbox holds, and how many of them a relay has claimed. */
export async function outboxRows(db: TestDatabase): Promise<{ rows: number; leased: number }> {
  const [row] = await db.rows<{ rows: number | string; leased: number | string }>(
    "select count(*) as rows, count(lease_owner) as leased from flotilla_outbox",
  );
  return { rows: Number(row?.rows ?? 0), leased: Number(row?.leased ?? 0) };
}

/** The events waiting in the outbox: their sequence numbers, and which relay holds each. */
export async function outboxEvents(
  db: TestDatabase,
): Promise<{ seq: number; owner: string | null }[]> {
  const rows = await db.rows<{ payload: string; lease_owner: string | null }>(
    "select payload, lease_owner from flotilla_outbox",
  );
  return rows.map((r) => ({
    seq: Number((JSON.parse(r.payload) as { seq?: unknown }).seq),
    owner: r.lease_owner,
  }));
}

const root = fileURLToPath(new URL("../../..", import.meta.url));
const script = fileURLToPath(new URL("./instance.ts", import.meta.url));
const running = new Set<Instance>();

/** Settings of one instance (instance.ts documents each). */
export interface InstanceSettings {
  db: TestDatabase;
  node: string;
  namespace?: string;
  transporter?: string;
  relay?: boolean;
  lease?: number;
  poll?: number;
  /** Waits for `go()` before starting (the modules are loaded by then). */
  gate?: boolean;
  work?: "place" | "next";
  count?: number;
  base?: number;
  /** The outbox key of each event (`place`), or keys taken in turn by sequence number (`next`). */
  keys?: readonly string[];
  concurrency?: number;
}

/**
 * `orders` in a child process (instance.ts, run with tsx as the durable suite runs its victim):
 * its stdout lines as events, SIGKILL, and what it said.
 */
export class Instance {
  readonly lines: string[] = [];
  /** The last 2,000 characters of its stderr. */
  stderr = "";
  /** Transactions it reported committed (`c <seq>` lines). */
  commits = 0;
  readonly exited: Promise<number | null>;
  #done = false;
  #waiters = new Set<() => void>();

  private constructor(
    readonly settings: InstanceSettings,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => {
        this.#done = true;
        running.delete(this);
        this.#wake();
        resolve(code);
      });
    });
    const out = createInterface({ input: child.stdout! });
    out.on("line", (line) => {
      this.lines.push(line);
      if (line.startsWith("c ")) this.commits++;
      this.#wake();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2_000);
    });
  }

  static spawn(settings: InstanceSettings): Instance {
    const s = settings;
    const env: Record<string, string> = {
      ...s.db.env,
      NODE_ID: s.node,
      NAMESPACE: s.namespace ?? "",
      TRANSPORTER: s.transporter ?? "",
      RELAY: s.relay === false ? "off" : "on",
      LEASE: String(s.lease ?? 30_000),
      POLL: String(s.poll ?? 1_000),
      GATE: s.gate === true ? "1" : "",
      WORK: s.work ?? "",
      COUNT: String(s.count ?? 0),
      BASE: String(s.base ?? 0),
      KEYS: (s.keys ?? []).join(","),
      CONCURRENCY: String(s.concurrency ?? 1),
    };
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: root,
      env: { ...process.env, FLOTILLA_LOG_LEVEL: "", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const instance = new Instance(settings, child);
    running.add(instance);
    return instance;
  }

  /** Resolves with the first line `match` accepts (looking at what came already, then at what comes). */
  line(match: (line: string) => boolean, what: string, timeout = 30_000): Promise<string> {
    return this.#when(() => this.lines.find(match), what, timeout);
  }

  /** Resolves once the child reported `n` commits. */
  committed(n: number, timeout = 30_000): Promise<number> {
    return this.#when(
      () => (this.commits >= n ? this.commits : undefined),
      `${n} commits`,
      timeout,
    );
  }

  /** Resolves once the child started; rejects with what it said if its start failed. */
  async ready(timeout = 30_000): Promise<void> {
    const line = await this.line(
      (l) => l === "ready" || l.startsWith("start-failed"),
      "ready",
      timeout,
    );
    if (line !== "ready") throw new Error(`${this.settings.node}: ${line}`);
  }

  /**
   * Opens the gate: the child starts now; with `count` transactions from `base`, and relaying or
   * not, when given (else as spawned).
   */
  go(count?: number, base?: number, relay?: boolean): void {
    const s = this.settings;
    const words = [
      count ?? s.count ?? 0,
      base ?? s.base ?? 0,
      (relay ?? s.relay) === false ? "off" : "on",
    ];
    this.child.stdin?.write(`go ${words.join(" ")}\n`);
  }

  /** SIGKILL: no goodbye, nothing flushed; resolves once the process is gone. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM: the node stops gracefully; resolves once the process is gone. */
  async stop(): Promise<void> {
    this.child.kill("SIGTERM");
    await this.exited;
  }

  #when<T>(probe: () => T | undefined, what: string, timeout: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.settings.node}: no ${what} after ${timeout} ms${this.#tail()}`));
      }, timeout);
      const check = () => {
        const value = probe();
        if (value !== undefined) {
          finish();
          resolve(value);
        } else if (this.#done) {
          finish();
          reject(new Error(`${this.settings.node} exited before ${what}${this.#tail()}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #tail(): string {
    return `\nlast lines: ${this.lines.slice(-5).join(" | ")}\nstderr: ${this.stderr}`;
  }
}

/** Kills every instance still running, or those on `db` (for `afterAll`). */
export async function killInstances(db?: TestDatabase): Promise<void> {
  const chosen = [...running].filter((i) => db === undefined || i.settings.db === db);
  await Promise.all(chosen.map((i) => i.kill()));
}

/** One delivery of `orders.placed` to the consumer. */
export interface Delivery {
  seq: number;
  messageID: string | undefined;
  attempt: number | undefined;
  /** The node whose relay published it. */
  sender: string;
}

/**
 * A node running `audit`, whose durable handler of `orders.placed` records each delivery. It
 * must start before the first event is published: its group is made when it starts.
 */
export function consumerNode(
  namespace: string,
  transporter: string,
  log: Delivery[],
  concurrency: number,
): ServiceBroker {
  const broker = new ServiceBroker({
    nodeID: unique("audit"),
    namespace,
    logger: false,
    transporter,
    heartbeatTimeout: 60_000,
  });
  broker.createService(
    defineService({
      name: "audit",
      events: {
        "orders.placed": {
          durable: true,
          concurrency,
          handler(ctx) {
            log.push({
              // The payload of `orders.placed` (orders.ts `Placed`).
              seq: Number(ctx.params.seq),
              messageID: ctx.messageID,
              attempt: ctx.attempt,
              sender: ctx.callerNodeID,
            });
          },
        },
      },
    }),
  );
  return broker;
}

/** What arrived against what committed. */
export interface Tally {
  committed: number;
  delivered: number;
  distinct: number;
  /** Committed, never delivered. */
  lost: number[];
  /** Delivered, never committed (an event of a rolled-back transaction). */
  phantom: number[];
  /** Deliveries beyond the first of their event. */
  duplicates: number;
  /** Events delivered under more than one message ID (each row has one). */
  splitIDs: number;
}

export function tally(committed: readonly number[], log: readonly Delivery[]): Tally {
  const rows = new Set(committed);
  const ids = new Map<number, Set<string | undefined>>();
  for (const d of log) {
    const set = ids.get(d.seq) ?? new Set();
    set.add(d.messageID);
    ids.set(d.seq, set);
  }
  return {
    committed: rows.size,
    delivered: log.length,
    distinct: ids.size,
    lost: [...rows].filter((s) => !ids.has(s)),
    phantom: [...ids.keys()].filter((s) => !rows.has(s)),
    duplicates: log.length - ids.size,
    splitIDs: [...ids.values()].filter((s) => s.size > 1).length,
  };
}

/** A message broker the tests publish through, and how to delete what a namespace left on it. */
export interface SharedBroker {
  name: "rabbitmq" | "nats";
  url: string;
  cleanup(namespace: string): Promise<void>;
}

export const RABBITMQ: SharedBroker = {
  name: "rabbitmq",
  url: SHARED.rabbitmq.url,
  cleanup: (ns) =>
    deleteAmqpNamespace(SHARED.rabbitmq.url, ns, { "orders.placed": ["audit"] }).catch(
      () => undefined,
    ),
};

export const NATS: SharedBroker = {
  name: "nats",
  url: SHARED.nats.url,
  cleanup: (ns) => deleteNatsNamespaces([ns]).catch(() => undefined),
};

/**
 * The stage of one fault scenario: a database of its own, a broker namespace of its own, and the
 * consumer nodes it starts (push them to `consumers`); after the `describe` block the instances
 * are killed, the consumers stopped, the namespace deleted on the broker and the database dropped.
 */
export function faultStage(dialect: Dialect, tag: string, broker: SharedBroker) {
  const db = testDatabase(dialect, tag);
  const namespace = unique(`dfault-${tag}`);
  const consumers: ServiceBroker[] = [];
  afterAll(async () => {
    await killInstances(db);
    await Promise.allSettled(consumers.map((c) => c.stop()));
    await broker.cleanup(namespace);
    await db.drop();
  }, 30_000);
  return { db, namespace, consumers };
}
