import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { ConflictError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import { keepDriverError, toDataError, unreachable } from "./errors.js";
import { type QuerySpanInfo, traceQuery } from "./tracing.js";

/**
 * A dialect whose every query error is a coded Flotilla error (`DB_ERROR`, `CONFLICT`), mapped
 * where the query runs, so no handler code has to translate driver errors and none of them
 * reaches a caller with SQL in it. The driver's error is logged here (a conflict at debug level:
 * it is an answer, not a fault). Queries made inside a traced call get a span each
 * (src/data/tracing.ts).
 */
export function codedDialect(
  dialect: Dialect,
  logger: Logger,
  spans: QuerySpanInfo,
  overrides: { adapter?: DialectAdapter; begin?: string } = {},
): Dialect {
  return {
    createAdapter: () => overrides.adapter ?? dialect.createAdapter(),
    createDriver: () => new CodedDriver(dialect.createDriver(), logger, spans, overrides.begin),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}

class CodedDriver implements Driver {
  readonly #connections = new WeakMap<DatabaseConnection, DatabaseConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly logger: Logger,
    private readonly spans: QuerySpanInfo,
    /** The statement that opens a transaction, when not the dialect's own. */
    private readonly begin: string | undefined,
  ) {}

  init(): Promise<void> {
    return this.inner.init().catch((err: unknown) => {
      throw this.#report(unreachable(err), err);
    });
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    let connection: DatabaseConnection;
    try {
      connection = await this.inner.acquireConnection();
    } catch (err) {
      throw this.#report(unreachable(err), err);
    }
    const coded: DatabaseConnection = {
      executeQuery: <R>(query: CompiledQuery): Promise<QueryResult<R>> =>
        traceQuery(this.spans, query, () =>
          connection.executeQuery<R>(query).catch((err: unknown) => {
            throw this.#report(toDataError(err), err);
          }),
        ),
      streamQuery: <R>(query: CompiledQuery, chunkSize: number) =>
        connection.streamQuery<R>(query, chunkSize),
    };
    this.#connections.set(coded, connection);
    return coded;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const raw = this.#raw(connection);
    const begun =
      this.begin === undefined
        ? this.inner.beginTransaction(raw, settings)
        : raw.executeQuery(CompiledQuery.raw(this.begin)).then(() => undefined);
    return begun.catch((err: unknown) => {
      throw this.#report(toDataError(err), err);
    });
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(this.#raw(connection)).catch((err: unknown) => {
      throw this.#report(toDataError(err), err);
    });
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(this.#raw(connection));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(this.#raw(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  #raw(connection: DatabaseConnection): DatabaseConnection {
    return this.#connections.get(connection) ?? connection;
  }

  #report(coded: unknown, driver: unknown): unknown {
    if (coded === driver) return coded;
    if (coded instanceof ConflictError) this.logger.debug({ err: driver }, "Unique constraint hit");
    else this.logger.warn({ err: driver }, "Database query failed");
    return keepDriverError(coded, driver);
  }
}
