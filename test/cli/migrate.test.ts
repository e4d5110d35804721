import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flotilla, inTerminal, type Result, root } from "./helpers.js";

// `flotilla migrate` as a user runs it: the built command in a project of its own (a copy of
// fixtures/migrate, with `flotilla` and `kysely` linked into its node_modules), against SQLite
// files in the project's data folder, and once against PostgreSQL.
const fixtures = join(root, "test/cli/fixtures/migrate");
const work = mkdtempSync(join(tmpdir(), "flotilla-migrate-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The environment without any FLOTILLA_* setting of the shell running the tests. */
const clean = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith("FLOTILLA_")),
);

interface Project {
  dir: string;
  data: string;
  env: NodeJS.ProcessEnv;
  /** `flotilla migrate ...args` in the project's folder. */
  migrate(...args: string[]): Promise<Result>;
}

let projects = 0;

/** A fresh copy of the fixture project, with its own (not yet created) data folder. */
function project(env: NodeJS.ProcessEnv = {}): Project {
  const dir = join(work, `app-${++projects}`);
  cpSync(fixtures, dir, { recursive: true });
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(root, join(dir, "node_modules/flotilla"), "dir");
  symlinkSync(join(root, "node_modules/kysely"), join(dir, "node_modules/kysely"), "dir");
  writeFileSync(join(dir, "package.json"), '{ "name": "app", "private": true, "type": "module" }');
  const data = join(dir, "data");
  const full = { ...clean, NO_COLOR: "1", FLOTILLA_DATA_DIR: data, ...env };
  return {
    dir,
    data,
    env: full,
    migrate: (...args) => flotilla(["migrate", ...args], { env: full, cwd: dir }),
  };
}

/** The JSON a successful command printed. */
function json<T>(res: Result): T {
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as T;
}

interface Status {
  service: string;
  location: string;
  migrations: { name: string; executedAt: string | null }[];
}
interface Up {
  service: string;
  location: string;
  flotilla: string[];
  ran: string[];
}

/** `{ service: { migration: ran? } }` from `status`. */
function executed(list: Status[]): Record<string, Record<string, boolean>> {
  return Object.fromEntries(
    list.map((s) => [
      s.service,
      Object.fromEntries(s.migrations.map((m) => [m.name, m.executedAt !== null])),
    ]),
  );
}

function columns(file: string, table: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
  } finally {
    db.close();
  }
}

describe("flotilla migrate (SQLite)", { timeout: 60_000 }, () => {
  it("status lists every migration as pending before up, without creating a database", async () => {
    const p = project();
    const list = json<Status[]>(await p.migrate("status", "services"));
    expect(list).toEqual([
      {
        service: "orders",
        location: join(p.data, "orders.sqlite"),
        migrations: [
          { name: "0001_create_orders", executedAt: null },
          { name: "0002_add_total", executedAt: null },
        ],
      },
      {
        service: "users",
        location: join(p.data, "users.sqlite"),
        migrations: [{ name: "0001_create_users", executedAt: null }],
      },
    ]);
    expect(existsSync(p.data)).toBe(false);
  });

  it("up creates Flotilla's tables, runs what is pending, and runs nothing the second time", async () => {
    const p = project();
    const first = json<Up[]>(await p.migrate("up", "services", "--json"));
    expect(first).toEqual([
      {
        service: "orders",
        location: join(p.data, "orders.sqlite"),
        flotilla: ["0001_outbox", "0002_inbox"],
        ran: ["0001_create_orders", "0002_add_total"],
      },
      {
        service: "users",
        location: join(p.data, "users.sqlite"),
        flotilla: ["0001_outbox", "0002_inbox"],
        ran: ["0001_create_users"],
      },
    ]);
    expect(columns(join(p.data, "orders.sqlite"), "orders")).toEqual(["id", "item", "total"]);
    expect(columns(join(p.data, "orders.sqlite"), "flotilla_outbox")).toContain("message_id");

    const status = json<Status[]>(await p.migrate("status", "services", "--json"));
    expect(executed(status)).toEqual({
      orders: { "0001_create_orders": true, "0002_add_total": true },
      users: { "0001_create_users": true },
    });
    for (const m of status.flatMap((s) => s.migrations)) {
      expect(new Date(m.executedAt!).toISOString()).toBe(m.executedAt);
    }

    const again = json<Up[]>(await p.migrate("up", "services"));
    expect(again.map((s) => [s.service, s.flotilla, s.ran])).toEqual([
      ["orders", [], []],
      ["users", [], []],
    ]);
  });

  it("acts on the one service --service names", async () => {
    const p = project();
    const up = json<Up[]>(await p.migrate("up", "services", "--service", "users"));
    expect(up.map((s) => s.service)).toEqual(["users"]);
    expect(existsSync(join(p.data, "orders.sqlite"))).toBe(false);
  });

  it("down undoes the last migration of the service; status shows it pending again", async () => {
    const p = project();
    json(await p.migrate("up", "services"));
    const down = json<{ service: string; undone: string | null }[]>(
      await p.migrate("down", "services", "--service", "orders"),
    );
    expect(down).toMatchObject([{ service: "orders", undone: "0002_add_total" }]);
    expect(columns(join(p.data, "orders.sqlite"), "orders")).toEqual(["id", "item"]);
    expect(executed(json<Status[]>(await p.migrate("status", "services")))).toEqual({
      orders: { "0001_create_orders": true, "0002_add_total": false },
      users: { "0001_create_users": true },
    });
    // Down to nothing, then one more: nothing to undo, and Flotilla's own tables stay.
    json(await p.migrate("down", "services", "-s", "orders"));
    const none = json<{ undone: string | null }[]>(
      await p.migrate("down", "services", "-s", "orders"),
    );
    expect(none).toMatchObject([{ undone: null }]);
    expect(columns(join(p.data, "orders.sqlite"), "flotilla_outbox")).toContain("message_id");
  });

  it("down refuses to choose among several services with a database (exit 2)", async () => {
    const p = project();
    json(await p.migrate("up", "services"));
    const res = await p.migrate("down", "services");
    expect(res.code).toBe(2);
    expect(res.stdout).toBe("");
    expect(res.stderr).toBe(
      "flotilla migrate: several services have a database (orders, users): choose the one to " +
        "roll back with --service NAME\nRun 'flotilla migrate --help' for usage.\n",
    );
    const status = executed(json<Status[]>(await p.migrate("status", "services")));
    expect(status.orders).toEqual({ "0001_create_orders": true, "0002_add_total": true });
  });

  it("new writes a typed migration in the service's folder, in its language, that up runs", async () => {
    const p = project();
    json(await p.migrate("up", "services"));
    type Created = { service: string; migration: string; file: string };
    const ts = json<Created>(await p.migrate("new", "add email", "services", "-s", "orders"));
    expect(ts.service).toBe("orders");
    expect(ts.migration).toMatch(/^\d{14}_add_email$/);
    expect(ts.file).toBe(join(p.dir, "migrations/orders", `${ts.migration}.ts`));
    const source = readFileSync(ts.file, "utf8");
    expect(source).toContain('import type { Kysely } from "kysely";');
    expect(source).toContain("export async function up(db: Kysely<any>): Promise<void> {");
    expect(source).toContain("export async function down(db: Kysely<any>): Promise<void> {");

    const js = json<Created>(await p.migrate("new", "addPhone", "services", "--service", "users"));
    expect(js.file).toBe(join(p.dir, "migrations/users", `${js.migration}.js`));
    expect(js.migration).toMatch(/^\d{14}_add_phone$/);
    expect(readFileSync(js.file, "utf8")).toContain(
      '/** @param {import("kysely").Kysely<any>} db */\nexport async function up(db) {',
    );

    // Filled in as a user would, then run by the next `up`.
    writeFileSync(
      ts.file,
      source.replace(
        "  // await db.schema\n",
        '  await db.schema.alterTable("orders").addColumn("email", "text").execute();\n  // await db.schema\n',
      ),
    );
    const up = json<Up[]>(await p.migrate("up", "services"));
    expect(up.map((s) => [s.service, s.ran])).toEqual([
      ["orders", [ts.migration]],
      ["users", [js.migration]],
    ]);
    expect(columns(join(p.data, "orders.sqlite"), "orders")).toContain("email");
    const status = executed(json<Status[]>(await p.migrate("status", "services")));
    expect(status.orders?.[ts.migration]).toBe(true);
    expect(status.users?.[js.migration]).toBe(true);
  });

  it("new explains how to switch to a folder when migrations are declared in code (exit 1)", async () => {
    const p = project();
    const res = await p.migrate("new", "more", "broken");
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(
      "error: service 'broken' has no migrations folder to write to: they are declared in code",
    );
    expect(res.stderr).toContain('migrations: new URL("./migrations", import.meta.url)');
    expect(readdirSync(p.dir).sort()).toEqual(
      ["broken", "migrations", "node_modules", "package.json", "services"].sort(),
    );
  });

  it("a failing migration exits 1 with MIGRATION_FAILED, its name and reason, all rolled back", async () => {
    const p = project();
    const res = await p.migrate("up", "broken", "--json");
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    const { error } = JSON.parse(res.stderr) as { error: Record<string, unknown> };
    expect(error).toMatchObject({
      code: "MIGRATION_FAILED",
      data: { service: "broken", migration: "0002_fill_things" },
    });
    expect(error.message).toBe(
      "Migration '0002_fill_things' of service 'broken' failed and was rolled back: " +
        "no such table: missing_table",
    );
    expect(executed(json<Status[]>(await p.migrate("status", "broken")))).toEqual({
      broken: { "0001_create_things": false, "0002_fill_things": false },
    });
  });

  it("prints readable lines on a terminal", async () => {
    const p = project();
    const services = join(p.dir, "services");
    const status = await inTerminal(["migrate", "status", services], p.env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /^SERVICE +MIGRATION +EXECUTED\norders +0001_create_orders +pending\n/,
    );
    const up = await inTerminal(["migrate", "up", services], p.env);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain("  ran 0001_outbox (Flotilla's outbox and inbox)\n");
    expect(up.stdout).toContain("  ran 0002_add_total\n");
    const again = await inTerminal(["migrate", "up", services, "-s", "orders"], p.env);
    expect(again.stdout).toContain("  up to date (2 migrations)\n");
    const failed = await inTerminal(["migrate", "up", join(p.dir, "broken")], p.env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(
      "error: Migration '0002_fill_things' of service 'broken' failed and was rolled back: " +
        "no such table: missing_table (MIGRATION_FAILED",
    );
  });

  it("prints its help", async () => {
    const res = await flotilla(["migrate", "--help"], { env: clean });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: flotilla migrate up \| down \| status \| new <name>/);
    expect(res.stdout).toContain("--service NAME");
  });

  it.each([
    { args: ["frobnicate", "services"], message: "unknown migrate command 'frobnicate'" },
    {
      args: ["stats", "services"],
      message: "unknown migrate command 'stats' (did you mean status?)",
    },
    { args: [], message: "missing what to do: up, down, status or new <name>" },
    { args: ["up"], message: "missing the service files, directories or globs" },
    { args: ["new"], message: "migrate new needs a name, e.g. add_email" },
    { args: ["new", "services/orders.ts"], message: "migrate new needs a name before the files" },
    { args: ["up", "nope.ts"], message: "no such file or directory: nope.ts" },
    {
      args: ["up", "services", "-s", "order"],
      message: "no service 'order' in the given files (did you mean orders?)",
    },
    { args: ["up", "services", "-s", "plain"], message: "service 'plain' declares no database" },
    { args: ["new", "x", "services"], message: "several services have a database (orders, users)" },
  ])("refuses migrate $args with one line and exit 2", async ({ args, message }) => {
    const p = project();
    const res = await p.migrate(...args);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe("");
    const [first, second, ...more] = res.stderr.split("\n");
    expect(first).toContain(`flotilla migrate: ${message}`);
    expect(second).toBe("Run 'flotilla migrate --help' for usage.");
    expect(more.join("")).toBe("");
    expect(existsSync(p.data)).toBe(false);
  });
});

describe("flotilla migrate (PostgreSQL)", { timeout: 60_000 }, () => {
  const url = "postgres://postgres@127.0.0.1:5432/test";
  // Two services (and so two schemas) no other test or run uses, in one database: the second
  // must find its own migration tables, not the first one's.
  const tag = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const first = `migrate_a_${tag}`;
  const second = `migrate_b_${tag}`;

  async function query<R extends Record<string, unknown>>(
    text: string,
    values: unknown[] = [],
  ): Promise<R[]> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    try {
      await query("select 1");
    } catch (err) {
      throw new Error(
        `PostgreSQL is not reachable at ${url} (${(err as Error).message}): start it with ` +
          "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
      );
    }
  });

  afterAll(async () => {
    for (const schema of [first, second]) await query(`drop schema if exists "${schema}" cascade`);
  });

  /** A project whose `pg/` folder holds the two services, both on the `orders` migrations. */
  function pgProject(): Project {
    const p = project({ FLOTILLA_DB_URL: url });
    mkdirSync(join(p.dir, "pg"));
    for (const name of [first, second]) {
      writeFileSync(
        join(p.dir, `pg/${name}.ts`),
        `import { defineDatabase, defineService } from "flotilla";
export default defineService({
  name: "${name}",
  database: defineDatabase({ migrations: new URL("../migrations/orders", import.meta.url) }),
});
`,
      );
    }
    return p;
  }

  it("runs, lists and undoes the migrations of each service in its own schema", async () => {
    const p = pgProject();
    const location = (schema: string) => `127.0.0.1:5432/test (schema ${schema})`;
    const pending = [
      { name: "0001_create_orders", executedAt: null },
      { name: "0002_add_total", executedAt: null },
    ];
    expect(json<Status[]>(await p.migrate("status", "pg"))).toEqual([
      { service: first, location: location(first), migrations: pending },
      { service: second, location: location(second), migrations: pending },
    ]);

    const all = ["0001_create_orders", "0002_add_total"];
    const internal = ["0001_outbox", "0002_inbox"];
    expect(json<Up[]>(await p.migrate("up", "pg", "--service", first))).toEqual([
      { service: first, location: location(first), flotilla: internal, ran: all },
    ]);
    expect(json<Up[]>(await p.migrate("up", "pg"))).toEqual([
      { service: first, location: location(first), flotilla: [], ran: [] },
      { service: second, location: location(second), flotilla: internal, ran: all },
    ]);
    const tables = await query<{ table_schema: string; table_name: string }>(
      "select table_schema, table_name from information_schema.tables " +
        "where table_schema = any($1) order by 1, 2",
      [[first, second]],
    );
    const expected = [
      "flotilla_inbox",
      "flotilla_migration",
      "flotilla_migration_lock",
      "flotilla_outbox",
      "kysely_migration",
      "kysely_migration_lock",
      "orders",
    ];
    expect(tables.filter((t) => t.table_schema === first).map((t) => t.table_name)).toEqual(
      expected,
    );
    expect(tables.filter((t) => t.table_schema === second).map((t) => t.table_name)).toEqual(
      expected,
    );

    const refused = await p.migrate("down", "pg");
    expect(refused.code).toBe(2);
    expect(json(await p.migrate("down", "pg", "-s", second))).toMatchObject([
      { service: second, undone: "0002_add_total" },
    ]);
    expect(executed(json<Status[]>(await p.migrate("status", "pg")))).toEqual({
      [first]: { "0001_create_orders": true, "0002_add_total": true },
      [second]: { "0001_create_orders": true, "0002_add_total": false },
    });
  });

  it("names the database it cannot reach (exit 1, DB_ERROR)", async () => {
    const p = project({ FLOTILLA_DB_URL: "postgres://postgres@127.0.0.1:1/test" });
    const res = await p.migrate("up", "services", "-s", "orders");
    expect(res.code).toBe(1);
    const { error } = JSON.parse(res.stderr) as { error: { code: string; hint: string } };
    expect(error.code).toBe("DB_ERROR");
    expect(error.hint).toContain("is the database at 127.0.0.1:1/test (schema orders) running?");
  });
});
