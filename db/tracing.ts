import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { LogEvent } from 'kysely';

const tracer = trace.getTracer('fulfillment-orchestrator/db');

/**
 * `SELECT`, `INSERT`, … and the first table a statement names: a span name without values. A
 * statement of common table expressions (one round trip doing several writes) is named by its
 * first write, or its first read when it writes nothing: `with account as (select … from
 * customers), upserted as (insert into customers …` is `INSERT customers`.
 */
export function statementSummary(sql: string): { operation: string; table: string | null } {
  const tableAfter = (text: string) =>
    /\b(?:from|into|update|join)\s+"?([a-z_][a-z0-9_]*)"?/i.exec(text)?.[1] ?? null;
  const operation = (/^\s*(\w+)/.exec(sql)?.[1] ?? 'QUERY').toUpperCase();
  if (operation !== 'WITH') return { operation, table: tableAfter(sql) };
  const cte = /\bas\s*(?:(?:not\s+)?materialized\s*)?\(\s*(select|insert|update|delete)\b/gi;
  const bodies = [...sql.matchAll(cte)];
  const chosen = bodies.find((body) => body[1]!.toLowerCase() !== 'select') ?? bodies[0] ?? null;
  if (!chosen) return { operation, table: tableAfter(sql) };
  return {
    operation: chosen[1]!.toUpperCase(),
    table: tableAfter(sql.slice(chosen.index)),
  };
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
