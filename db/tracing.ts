import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { LogEvent } from 'kysely';

const tracer = trace.getTracer('fulfillment-orchestrator/db');

/**
 * `SELECT`, `INSERT`, … and the first table a statement names: a span name without values. A
 * statement of common table expressions (one round trip doing several writes) is named by its
 * first one: `with upserted as (insert into webhook_events …` is `INSERT webhook_events`.
 */
export function statementSummary(sql: string): { operation: string; table: string | null } {
  let operation = (/^\s*(\w+)/.exec(sql)?.[1] ?? 'QUERY').toUpperCase();
  if (operation === 'WITH')
    operation = (
      /\bas\s*(?:(?:not\s+)?materialized\s*)?\(\s*(select|insert|update|delete)\b/i.exec(
        sql,
      )?.[1] ?? operation
    ).toUpperCase();
  const table = /\b(?:from|into|update|join)\s+"?([a-z_][a-z0-9_]*)"?/i.exec(sql)?.[1] ?? null;
  return { operation, table };
}

/**
 * Kysely's `log` hook as a span per statement, a child of the span that made the query (the
 * hook runs in the query's async context once it settled; the span is back-dated by the
 * query's duration). Statements outside any traced operation — pollers, relays, metric scrapes
 * — are not traced: they would each be a trace of one span. The SQL is recorded with its
 * placeholders, never its parameters (emails, tokens).
 */
export function traceQuery(event: LogEvent): void {
  const parent = trace.getActiveSpan();
  if (!parent?.isRecording()) return;
  const sql = event.query.sql;
  const { operation, table } = statementSummary(sql);
  const end = Date.now();
  const span = tracer.startSpan(table ? `${operation} ${table}` : operation, {
    kind: SpanKind.CLIENT,
    startTime: end - event.queryDurationMillis,
    attributes: {
      'db.system': 'postgresql',
      'db.operation.name': operation,
      ...(table ? { 'db.collection.name': table } : {}),
      'db.query.text': sql.length > 2_000 ? `${sql.slice(0, 2_000)}…` : sql,
    },
  });
  if (event.level === 'error') {
    const error = event.error;
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  }
  span.end(end);
}
