import type { Db } from '../db/database.ts';
import {
  findAlert,
  insertAlertWithDeliveries,
  listAlerts as listAlertRows,
  transitionAlert,
  type AlertView,
} from '../db/queries/alerts.ts';
import type { AlertStatus } from '../db/tables/alerts.ts';
import { alertTopicsFor, type AlertSinks } from '../drivers/alert-sinks.ts';
import { redactEmails } from '../security/redaction.ts';
import { OperationError, requireReason, type Authorship } from './context.ts';

export type { AlertSinks } from '../drivers/alert-sinks.ts';

export interface AlertInput {
  /** Deduplication key: one alert per key, however often it is raised. */
  key: string;
  kind: string;
  severity: 'warning' | 'critical';
  summary: string;
  jobId?: string | null;
  detail?: Record<string, unknown>;
  /** Open an issue in the tracker (ALERT_GITHUB_REPOSITORY) too: one per alert. */
  ticket?: boolean;
}

/**
 * Raises an alert once per key: stored in `alerts` together with one outbox message per
 * configured sink (one transaction), and written as a structured log line. The worker's outbox
 * relay delivers the messages with retries and backoff, so a sink that is down for an hour
 * receives the alert when it returns. True when this call raised it.
 */
export async function raiseAlert(db: Db, sinks: AlertSinks, alert: AlertInput): Promise<boolean> {
  const ticket = alert.ticket ?? false;
  const inserted = await insertAlertWithDeliveries(
    db,
    {
      alert_key: alert.key,
      kind: alert.kind,
      severity: alert.severity,
      summary: alert.summary,
      job_id: alert.jobId ?? null,
      detail: alert.detail ? JSON.stringify(alert.detail) : null,
    },
    { topics: alertTopicsFor(sinks, 'trigger', { ticket }), ticket },
  );
  if (!inserted) return false;
  // The row keeps the whole alert for operators; the log line carries no buyer address.
  console.warn(
    redactEmails(JSON.stringify({ level: 'warn', msg: 'alert', id: inserted.id, alert })),
  );
  return true;
}

export const ALERT_STATUSES: readonly AlertStatus[] = ['open', 'acknowledged', 'resolved'];

export interface AlertListQuery {
  status?: AlertStatus | undefined;
  kind?: string | undefined;
  since?: Date | undefined;
  /** The previous page's `next` cursor. */
  before?: string | undefined;
  limit: number;
}

/** Alerts newest first, with each sink's delivery state; `next` pages on. */
export async function listAlerts(
  db: Db,
  query: AlertListQuery,
): Promise<{ items: AlertView[]; next: string | null }> {
  if (query.before !== undefined && !/^\d{1,18}$/.test(query.before))
    throw new OperationError('invalid', 'before: an alert id (digits)');
  const items = await listAlertRows(db, {
    status: query.status,
    kind: query.kind,
    since: query.since,
    beforeId: query.before,
    limit: query.limit + 1,
  });
  const more = items.length > query.limit;
  const page = items.slice(0, query.limit);
  return { items: page, next: more ? (page.at(-1)?.id ?? null) : null };
}

/** What acknowledging or resolving did. */
export interface AlertTransition {
  alert: AlertView;
  /** False when the alert was already there (or past it): nothing written, nothing sent. */
  changed: boolean;
}

async function transition(
  db: Db,
  sinks: AlertSinks,
  id: string,
  to: 'acknowledged' | 'resolved',
  act: Authorship,
): Promise<AlertTransition> {
  requireReason(act);
  if (!/^\d{1,18}$/.test(id)) throw new OperationError('invalid', 'id: an alert id (digits)');
  const result = await transitionAlert(db, id, to, {
    operator: act.operator.name,
    role: act.operator.role,
    reason: act.reason,
    topics: alertTopicsFor(sinks, to === 'acknowledged' ? 'acknowledge' : 'resolve'),
  });
  if (!result) throw new OperationError('not_found', `no alert ${id}`);
  return { alert: (await findAlert(db, id))!, changed: result.changed };
}

/**
 * An operator takes an open alert: it is `acknowledged`, audited (`alert.acknowledged`, who and
 * why), and PagerDuty gets the acknowledge event through the outbox. Repeating it changes nothing.
 */
export const acknowledgeAlert = (db: Db, sinks: AlertSinks, id: string, act: Authorship) =>
  transition(db, sinks, id, 'acknowledged', act);

/**
 * An operator closes an open or acknowledged alert: `resolved`, audited (`alert.resolved`), and
 * PagerDuty gets the resolve event through the outbox. Repeating it changes nothing.
 */
export const resolveAlert = (db: Db, sinks: AlertSinks, id: string, act: Authorship) =>
  transition(db, sinks, id, 'resolved', act);
