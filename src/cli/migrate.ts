import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { extname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { MigrationResultSet } from "kysely/migration";
import {
  type DatabaseTarget,
  describeTarget,
  resolveTarget,
  serviceUrlVariable,
} from "../data/config.js";
import { ServiceDatabase } from "../data/database.js";
import { migrationProvider } from "../data/migrations.js";
import type { DatabaseOptions, MigrationSource } from "../data/types.js";
import { FlotillaError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import { serviceFullName } from "../service/define.js";
import type { AnyServiceDefinition } from "../service/types.js";
import { DEFAULT_MAX_PACKET_SIZE } from "../transit/core.js";
import { type Parsed, UsageError } from "./args.js";
import { configure } from "./config/load.js";
import { expandFiles, loadServices } from "./load.js";
import { locate, syntaxLocation } from "./locate.js";
import { cliLogger } from "./logger.js";
import type { Output } from "./output.js";
import { suggest } from "./suggest.js";
import { enableTypeScript } from "./typescript.js";

const ACTIONS = ["up", "down", "status", "new"] as const;
type Action = (typeof ACTIONS)[number];

/** A service of the given files that declares a database, and the file it came from. */
interface Selected {
  /** The full name (`v2.orders`): the database is named after it. */
  name: string;
  options: DatabaseOptions;
  file: string;
}

/**
 * `flotilla migrate up | down | status | new <name> <files...>`: the migrations of the services
 * the files define that have a database, run from the command line as the broker runs them at
 * start (Flotilla's outbox and inbox tables first), with no node started and no outbox relay.
 * The database is the one the service would open: `$FLOTILLA_DB_URL_<SERVICE>`, the declaration's
 * `url`, `$FLOTILLA_DB_URL`, else `<$FLOTILLA_DATA_DIR or ./.data>/<service>.sqlite`.
 */
export async function migrate(given: Parsed, out: Output): Promise<number> {
  // `.env` files and the config file may hold the database URL (FLOTILLA_DB_URL) and the rest.
  const { parsed } = await configure(given, "migrate");
  const [action, ...rest] = parsed.positionals;
  if (action === undefined)
    throw new UsageError("missing what to do: up, down, status or new <name>", "migrate");
  if (!isAction(action)) {
    const hint = suggest(action, ACTIONS);
    throw new UsageError(
      `unknown migrate command '${action}'${hint ? ` (did you mean ${hint}?)` : " (up, down, status, new <name>)"}`,
      "migrate",
    );
  }
  let patterns = rest;
  let name = "";
  if (action === "new") {
    const [given, ...files] = rest;
    if (given === undefined)
      throw new UsageError("migrate new needs a name, e.g. add_email", "migrate");
    name = migrationSlug(given);
    if (name === "")
      throw new UsageError(
        `'${given}' is not a migration name (use letters and digits)`,
        "migrate",
      );
    if (files.length === 0 && /\.[mc]?[jt]s$/.test(given))
      throw new UsageError(
        `migrate new needs a name before the files: migrate new <name> ${given}`,
        "migrate",
      );
    patterns = files;
  }
  if (patterns.length === 0)
    throw new UsageError("missing the service files, directories or globs", "migrate");
  const loaded: { def: AnyServiceDefinition; file: string }[] = [];
  for (const file of filesOf(patterns)) {
    try {
      for (const def of await loadServices([file])) loaded.push({ def, file });
    } catch (err) {
      const at =
        err instanceof SyntaxError && locate(err) === undefined ? syntaxLocation(file) : undefined;
      return out.localError(err, `cannot load ${relative(process.cwd(), file) || file}`, at);
    }
  }
  const selected = select(loaded, parsed.options.service as string | undefined, out);
  if (selected.length === 0) {
    const names = loaded.map((l) => fullName(l.def)).join(", ");
    return problem(
      out,
      `no service in the given files declares a database (services: ${names || "none"})`,
      "declare one with database: defineDatabase<DB>({ migrations }) in defineService",
    );
  }
  if ((action === "down" || action === "new") && selected.length > 1) {
    throw new UsageError(
      `several services have a database (${selected.map((s) => s.name).join(", ")}): ` +
        `choose the one to ${action === "down" ? "roll back" : "add a migration to"} with --service NAME`,
      "migrate",
    );
  }
  if (action === "new") return create(selected[0]!, name, out);
  const logger = cliLogger(out.verbose ? "debug" : "silent", 2);
  if (action === "status") return status(selected, logger, out);
  return action === "up" ? up(selected, logger, out) : down(selected[0]!, logger, out);
}

function isAction(word: string): word is Action {
  return (ACTIONS as readonly string[]).includes(word);
}

function fullName(def: AnyServiceDefinition): string {
  return serviceFullName(def.name, def.version);
}

/** The services to act on: those with a database, or the one `--service` names (full name or name). */
function select(
  loaded: readonly { def: AnyServiceDefinition; file: string }[],
  service: string | undefined,
  out: Output,
): Selected[] {
  const matching =
    service === undefined
      ? loaded
      : loaded.filter((l) => l.def.name === service || fullName(l.def) === service);
  if (service !== undefined && matching.length === 0) {
    const names = loaded.map((l) => fullName(l.def));
    const hint = suggest(service, names);
    throw new UsageError(
      `no service '${service}' in the given files${hint ? ` (did you mean ${hint}?)` : ` (services: ${names.join(", ") || "none"})`}`,
      "migrate",
    );
  }
  const selected = new Map<string, Selected>();
  for (const { def, file } of matching) {
    if (def.database === undefined) continue;
    const name = fullName(def);
    const seen = selected.get(name);
    if (seen !== undefined) {
      out.note(`service '${name}' is defined in ${seen.file} and ${file}; using the first`);
      continue;
    }
    selected.set(name, { name, options: def.database, file });
  }
  if (service !== undefined && selected.size === 0)
    throw new UsageError(`service '${service}' declares no database`, "migrate");
  return [...selected.values()];
}

/** Every file the arguments name; a name that matches nothing is a usage error (as for `run`). */
function filesOf(patterns: readonly string[]): string[] {
  const files = new Set<string>();
  for (const pattern of patterns) {
    const glob = /[*?]/.test(pattern);
    if (!glob && !statSync(resolve(pattern), { throwIfNoEntry: false }))
      throw new UsageError(`no such file or directory: ${pattern}`, "migrate");
    const found = expandFiles([pattern]);
    if (found.length === 0) throw new UsageError(`no service modules match ${pattern}`, "migrate");
    for (const f of found) files.add(f);
  }
  return [...files];
}

/** `up`: Flotilla's tables, then every pending migration of each service, one service at a time. */
async function up(selected: readonly Selected[], logger: Logger, out: Output): Promise<number> {
  const done: { service: string; location: string; flotilla: string[]; ran: string[] }[] = [];
  for (const s of selected) {
    const target = targetOf(s);
    try {
      checkFolder(s);
      const result = await withDatabase(s, logger, async (db) => {
        const internal = await db.ownTablesMigrator().latest();
        const own = db.migrator();
        const ranNow = ran(await own.latest());
        return { flotilla: ran(internal), ran: ranNow, total: (await own.status()).length };
      });
      const { total, ...entry } = { service: s.name, location: describeTarget(target), ...result };
      done.push(entry);
      if (!out.json) {
        const lines = [
          ...entry.flotilla.map((m) => `  ran ${m} ${out.dim("(Flotilla's outbox and inbox)")}`),
          ...entry.ran.map((m) => `  ran ${m}`),
        ];
        if (entry.ran.length === 0)
          lines.push(`  up to date ${out.dim(`(${plural(total, "migration")})`)}`);
        out.out.write(`${heading(out, s.name, target)}\n${lines.join("\n")}\n`);
      }
    } catch (err) {
      if (out.json && done.length > 0) out.value(done);
      return failure(out, err, s, target);
    }
  }
  if (out.json) out.value(done);
  return 0;
}

/** `down`: undoes the last migration of one service (Flotilla's own tables stay). */
async function down(s: Selected, logger: Logger, out: Output): Promise<number> {
  const target = targetOf(s);
  try {
    checkFolder(s);
    const undone = await withDatabase(s, logger, async (db) => ran(await db.migrator().down())[0]);
    const entry = { service: s.name, location: describeTarget(target), undone: undone ?? null };
    if (out.json) out.value([entry]);
    else
      out.out.write(
        `${heading(out, s.name, target)}\n  ${undone === undefined ? "nothing to undo: no migration has run" : `undid ${undone}`}\n`,
      );
    return 0;
  } catch (err) {
    return failure(out, err, s, target);
  }
}

/** `status`: each migration of each service, with the time it ran, or pending. */
async function status(selected: readonly Selected[], logger: Logger, out: Output): Promise<number> {
  const services: {
    service: string;
    location: string;
    migrations: { name: string; executedAt: string | null }[];
  }[] = [];
  for (const s of selected) {
    const target = targetOf(s);
    try {
      checkFolder(s);
      const migrations = await statusOf(s, target, logger);
      services.push({ service: s.name, location: describeTarget(target), migrations });
    } catch (err) {
      if (out.json && services.length > 0) out.value(services);
      return failure(out, err, s, target);
    }
  }
  type Row = { service: string; name?: string; executedAt: string | null };
  const rows = services.flatMap((s): Row[] =>
    s.migrations.length === 0
      ? [{ service: s.service, executedAt: "no migrations" }]
      : s.migrations.map((m) => ({ service: s.service, ...m })),
  );
  out.rows(
    rows,
    {
      SERVICE: (r) => r.service,
      MIGRATION: (r) => r.name,
      EXECUTED: (r) => r.executedAt ?? "pending",
    },
    services,
  );
  return 0;
}

async function statusOf(
  s: Selected,
  target: DatabaseTarget,
  logger: Logger,
): Promise<{ name: string; executedAt: string | null }[]> {
  // A SQLite file that does not exist yet: every migration is pending, and none is created.
  if (
    target.dialect === "sqlite" &&
    target.file !== ":memory:" &&
    !statSync(target.file, { throwIfNoEntry: false })
  ) {
    await typeScriptFor(s.options.migrations);
    const migrations = await migrationProvider(s.options.migrations ?? {}).getMigrations();
    return Object.keys(migrations)
      .sort()
      .map((name) => ({ name, executedAt: null }));
  }
  const list = await withDatabase(s, logger, (db) => db.migrator().status());
  return list.map((m) => ({ name: m.name, executedAt: m.executedAt?.toISOString() ?? null }));
}

/** `new <name>`: a migration file with `up` and `down` stubs in the service's migrations folder. */
function create(s: Selected, name: string, out: Output): number {
  const folder = folderOf(s.options.migrations);
  if (folder === undefined) {
    const how =
      s.options.migrations === undefined
        ? "it declares none"
        : "they are declared in code, as an object of named migrations";
    return problem(
      out,
      `service '${s.name}' has no migrations folder to write to: ${how}`,
      'use a folder: defineDatabase<DB>({ migrations: new URL("./migrations", import.meta.url) }), ' +
        "with each migration in a file there that exports up (and down)",
    );
  }
  const ext = migrationExtension(s.file);
  const migration = `${timestamp(new Date())}_${name}`;
  const file = join(folder, `${migration}${ext}`);
  mkdirSync(folder, { recursive: true });
  try {
    writeFileSync(file, ext === ".ts" || ext === ".mts" ? tsStub(s.name) : jsStub(s.name), {
      flag: "wx",
    });
  } catch (err) {
    if ((err as { code?: unknown }).code !== "EEXIST") throw err;
    return problem(out, `${relative(process.cwd(), file)} exists already`, "try again in a second");
  }
  const later = readdirSync(folder)
    .map((f) => f.slice(0, f.length - extname(f).length))
    .filter((m) => m > migration);
  if (later.length > 0)
    out.note(
      `${later.sort().join(", ")} sort after ${migration}: migrations run in name order, and one ` +
        "that sorts before a migration already run is refused",
    );
  const shown = relative(process.cwd(), file) || file;
  out.done(
    { service: s.name, migration, file },
    `Created ${shown} (service '${s.name}'); 'flotilla migrate up' runs it.`,
  );
  return 0;
}

/** The folder of a `migrations` given as a path (relative to the working directory) or URL. */
function folderOf(source: MigrationSource | undefined): string | undefined {
  if (typeof source === "string") return resolve(source);
  if (source instanceof URL) return fileURLToPath(source);
  return undefined;
}

/** A migrations folder that does not exist is reported as such, not as a failed scan. */
function checkFolder(s: Selected): void {
  const folder = folderOf(s.options.migrations);
  if (folder === undefined || statSync(folder, { throwIfNoEntry: false })?.isDirectory()) return;
  throw new MissingFolder(
    `the migrations folder of service '${s.name}' does not exist: ${relative(process.cwd(), folder) || folder}`,
  );
}

class MissingFolder extends Error {}

/** Makes `.ts` migrations loadable when the folder has any (a `.js` service does not do it). */
async function typeScriptFor(source: MigrationSource | undefined): Promise<void> {
  const folder = folderOf(source);
  if (folder === undefined) return;
  if (readdirSync(folder).some((f) => /\.m?ts$/.test(f) && !/\.d\.m?ts$/.test(f)))
    await enableTypeScript();
}

function targetOf(s: Selected): DatabaseTarget {
  return resolveTarget(s.name, s.options, undefined);
}

/** Opens a service's database as its node would, without a node or a relay, and closes it. */
async function withDatabase<T>(
  s: Selected,
  logger: Logger,
  fn: (db: ServiceDatabase) => Promise<T>,
): Promise<T> {
  await typeScriptFor(s.options.migrations);
  const db = await ServiceDatabase.open(s.options, {
    service: s.name,
    nodeID: `cli-${process.pid}`,
    logger: logger.child({ service: s.name }),
    publish: () => Promise.reject(new Error("flotilla migrate publishes no events")),
    maxPacketSize: DEFAULT_MAX_PACKET_SIZE,
    defaults: undefined,
  });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** The migrations a run went through. */
function ran(result: MigrationResultSet): string[] {
  return (result.results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

function heading(out: Output, service: string, target: DatabaseTarget): string {
  const where =
    target.dialect === "sqlite" && target.file !== ":memory:"
      ? relative(process.cwd(), target.file) || target.file
      : describeTarget(target);
  return `${out.bold(service)} ${out.dim(where)}`;
}

/** A failed migration (`MIGRATION_FAILED`) or database (`DB_ERROR`) with its code; else local. */
function failure(out: Output, err: unknown, s: Selected, target: DatabaseTarget): number {
  if (err instanceof MissingFolder)
    return problem(
      out,
      err.message,
      "create it, or write its first migration with 'flotilla migrate new <name> <files>'",
    );
  if (err instanceof FlotillaError) {
    const unreachable = err.code === "DB_ERROR" && err.message.includes("cannot be reached");
    const hint = unreachable
      ? `is the database at ${describeTarget(target)} running? Its URL comes from ` +
        `$${serviceUrlVariable(s.name)}, the declaration's url, then $FLOTILLA_DB_URL`
      : undefined;
    return out.callError(err, hint);
  }
  return out.localError(err, `service '${s.name}'`);
}

/** A problem with the project (not the command line): one line, a hint, exit status 1. */
function problem(out: Output, message: string, hint: string): number {
  out.err.write(`${out.red("error:")} ${message}\n${out.dim("hint:")} ${hint}\n`);
  return 1;
}

/** `Add email` → `add_email`, `addEmail` → `add_email`. */
function migrationSlug(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** `20260101120000`: UTC, to the second, so names sort in the order they were created. */
function timestamp(date: Date): string {
  return date.toISOString().replace(/\D/g, "").slice(0, 14);
}

/** A migration in the service file's language: `.ts` next to `.ts`, `.js` next to `.js`. */
function migrationExtension(serviceFile: string): string {
  const ext = extname(serviceFile);
  return [".ts", ".mts", ".js", ".mjs"].includes(ext) ? ext : ".ts";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const ABOUT = (service: string) =>
  `Runs once, in name order, with 'flotilla migrate up' or when service '${service}' starts;
// 'flotilla migrate down' undoes it. The database is typed Kysely<any> on purpose: a migration
// must keep working after the service's own table types change.`;

function tsStub(service: string): string {
  return `import type { Kysely } from "kysely";

// ${ABOUT(service)}

export async function up(db: Kysely<any>): Promise<void> {
  // await db.schema
  //   .createTable("example")
  //   .addColumn("id", "integer", (col) => col.primaryKey())
  //   .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // await db.schema.dropTable("example").execute();
}
`;
}

function jsStub(service: string): string {
  return `// ${ABOUT(service)}

/** @param {import("kysely").Kysely<any>} db */
export async function up(db) {
  // await db.schema
  //   .createTable("example")
  //   .addColumn("id", "integer", (col) => col.primaryKey())
  //   .execute();
}

/** @param {import("kysely").Kysely<any>} db */
export async function down(db) {
  // await db.schema.dropTable("example").execute();
}
`;
}
