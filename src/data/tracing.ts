import { randomUUID } from "node:crypto";
import { context, trace } from "@opentelemetry/api";
import type { CompiledQuery, QueryResult } from "kysely";
import {
  extractHeaders,
  injectHeaders,
  parentSpanContext,
  recordError,
  runInSpan,
  SpanKind,
  startSpan,
  tracingActive,
} from "../observability/tracing/trace.js";

/** What a query span says about its database. */
export interface QuerySpanInfo {
  /** `db.system.name`: `sqlite` or `postgresql`. */
  readonly system: "sqlite" | "postgresql";
  /** `db.namespace`: the service's schema (PostgreSQL) or file name (SQLite). */
  readonly namespace: string;
}

// The operation and the table a statement works on, for the span name: `SELECT orders`,
// `UPDATE "orders" SET …` → `UPDATE orders`.
const OPERATION = /^\s*(\w+)/;
const TABLE = /\b(?:from|into|update|table)\s+"?([\w.]+)"?/i;

/**
 * Runs one query in a database client span (OpenTelemetry database conventions) when it runs
 * inside a traced call or event: `db.query.text` is the statement Kysely compiled, with `$1`/`?`
 * placeholders and never the values. Queries outside any span (the outbox relay's polling, a
 * timer without tracing) make none, so an idle service sends no trace.
 */
export function traceQuery<R>(
  info: QuerySpanInfo,
  query: CompiledQuery,
  run: () => Promise<QueryResult<R>>,
): Promise<QueryResult<R>> {
  if (!tracingActive()) return run();
  const parent = context.active();
  if (trace.getSpan(parent)?.isRecording() !== true) return run();
  const sql = query.sql;
  const operation = (OPERATION.exec(sql)?.[1] ?? "query").toUpperCase();
  const table = TABLE.exec(sql)?.[1];
  const { span } = startSpan(
    table === undefined ? operation : `${operation} ${table}`,
    SpanKind.CLIENT,
    parent,
    {
      "db.system.name": info.system,
      "db.namespace": info.namespace,
      "db.operation.name": operation,
      "db.query.text": sql,
    },
  );
  if (table !== undefined) span.setAttribute("db.collection.name", table);
  return run().then(
    (result) => {
      span.end();
      return result;
    },
    (err: unknown) => {
      recordError(span, err);
      span.end();
      throw err;
    },
  );
}

/**
 * `tx.emit` in a traced context: a producer span `create <event>` (ended at once: the row is
 * written, not sent) whose trace context goes into the outbox row's headers, so the relay's
 * `send` span, and the handlers after it, continue the same trace.
 */
export function traceOutboxWrite<
  O extends { headers?: Record<string, string>; messageID?: string },
>(parent: object | undefined, event: string, opts: O | undefined): O | undefined {
  if (!tracingActive()) return opts;
  const messageID = opts?.messageID ?? randomUUID();
  const { span, ctx } = startSpan(`create ${event}`, SpanKind.PRODUCER, parentSpanContext(parent), {
    "messaging.system": "flotilla",
    "messaging.destination.name": event,
    "messaging.operation.type": "create",
    "messaging.operation.name": "outbox",
    "messaging.message.id": messageID,
  });
  span.end();
  return { ...opts, messageID, headers: injectHeaders(ctx, opts?.headers) } as O;
}

/**
 * The relay's publish of one outbox row, in a producer span `send <event>` that continues the
 * trace in the row's headers; the event goes out with this span's trace context.
 */
export function tracePublish(
  row: {
    event: string;
    message_id: string;
    attempts: number | string;
    created_at: number | string;
  },
  headers: Record<string, string> | undefined,
  publish: (headers: Record<string, string> | undefined) => Promise<void>,
): Promise<void> {
  if (!tracingActive() || headers?.traceparent === undefined) return publish(headers);
  const { span, ctx } = startSpan(`send ${row.event}`, SpanKind.PRODUCER, extractHeaders(headers), {
    "messaging.system": "flotilla",
    "messaging.destination.name": row.event,
    "messaging.operation.type": "send",
    "messaging.operation.name": "outbox relay",
    "messaging.message.id": row.message_id,
    "flotilla.outbox.attempts": Number(row.attempts),
    "flotilla.outbox.wait_ms": Math.max(0, Date.now() - Number(row.created_at)),
  });
  return runInSpan(span, ctx, () => publish(injectHeaders(ctx, headers)));
}
