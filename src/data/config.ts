import { isAbsolute, resolve } from "node:path";
import { ConfigurationError } from "../errors/index.js";
import type { DatabaseOptions } from "./types.js";

/** The broker's defaults for the databases of its services (`new ServiceBroker({ database })`). */
export interface BrokerDatabaseOptions {
  /** A database for every service that does not name its own (`postgres://…`, `sqlite:…`). */
  url?: string;
  /** Where default SQLite files go. Default `$FLOTILLA_DATA_DIR`, else `./.data`. */
  dir?: string;
}

/** Where one service's database is, after every source of settings was read. */
export type DatabaseTarget =
  | { dialect: "sqlite"; file: string }
  | { dialect: "postgres"; url: string; schema: string };

/** The environment variable that names one service's database: `FLOTILLA_DB_URL_ORDERS`. */
export function serviceUrlVariable(service: string): string {
  return `FLOTILLA_DB_URL_${service.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/**
 * Picks a service's database, most specific first: `$FLOTILLA_DB_URL_<SERVICE>`, the
 * declaration's `url`, `$FLOTILLA_DB_URL`, the broker's `database.url`, then a SQLite file
 * `<dir>/<service>.sqlite` (dir: the broker's `database.dir`, `$FLOTILLA_DATA_DIR`, `./.data`).
 */
export function resolveTarget(
  service: string,
  decl: DatabaseOptions,
  broker: BrokerDatabaseOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): DatabaseTarget {
  const url =
    nonEmpty(env[serviceUrlVariable(service)]) ??
    decl.url ??
    nonEmpty(env.FLOTILLA_DB_URL) ??
    broker?.url;
  if (url === undefined) {
    const dir = broker?.dir ?? nonEmpty(env.FLOTILLA_DATA_DIR) ?? ".data";
    return { dialect: "sqlite", file: resolve(dir, `${service}.sqlite`) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    return { dialect: "postgres", url, schema: decl.schema ?? schemaName(service) };
  }
  if (url.startsWith("sqlite:")) {
    const rest = url.slice("sqlite:".length).replace(/^\/\//, "");
    if (rest === ":memory:") return { dialect: "sqlite", file: ":memory:" };
    if (rest === "") throw badUrl(service, url);
    return { dialect: "sqlite", file: isAbsolute(rest) ? rest : resolve(rest) };
  }
  throw badUrl(service, url);
}

/** A schema name from a service name: lower case, `_` for anything else. */
function schemaName(service: string): string {
  return service.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function badUrl(service: string, url: string): ConfigurationError {
  return new ConfigurationError(
    `The database URL of service '${service}' (${redact(url)}) is not one Flotilla knows: use ` +
      "postgres://user@host:5432/db, sqlite:<file> or sqlite::memory:.",
    "INVALID_DATABASE_URL",
  );
}

/** A URL without its password, for logs and errors. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.toString();
  } catch {
    // Not a URL the WHATWG parser takes: everything between "://" and the last "@" goes.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, "$1***@");
  }
}

/** Where a target is, for logs and health (no credentials). */
export function describeTarget(target: DatabaseTarget): string {
  if (target.dialect === "sqlite") return target.file;
  try {
    const u = new URL(target.url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname} (schema ${target.schema})`;
  } catch {
    return `postgres (schema ${target.schema})`;
  }
}
