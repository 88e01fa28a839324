import { sql } from 'kysely';
import type { Db, DbExecutor } from '../database.ts';
import type { Alert, AlertStatus, NewAlert } from '../tables/alerts.ts';
import { recordAudit } from './audit.ts';
import { enqueueOutboxMessage } from './outbox.ts';

/** What the outbox carries to an alert sink: the alert as raised, and which event to send. */
export interface AlertDeliveryPayload {
  alertId: string;
  event: 'trigger' | 'acknowledge' | 'resolve';
  /** Open one issue in the tracker for it (a reconciliation run with discrepancies). */
  ticket: boolean;
  alert: {
    key: string;
    kind: string;
    severity: 'warning' | 'critical';
    summary: string;
    detail: unknown;
    jobId: string | null;
    createdAt: string;
  };
  /** Who acknowledged or resolved it, and why (acknowledge and resolve events only). */
  by?: { operator: string; reason: string };
}

/** The outbox dedupe key of one alert event: at most one message per alert, sink and event. */
export const alertDeliveryKey = (alertId: string, event: AlertDeliveryPayload['event']): string =>
  `alert:${alertId}:${event}`;

const payloadOf = (
  row: Alert,
  event: AlertDeliveryPayload['event'],
  ticket: boolean,
  by?: AlertDeliveryPayload['by'],
): AlertDeliveryPayload => ({
  alertId: row.id,
  event,
  ticket,
  alert: {
    key: row.alert_key,
    kind: row.kind,
    severity: row.severity,
    summary: row.summary,
    detail: row.detail ?? null,
    jobId: row.job_id,
    createdAt: new Date(row.created_at).toISOString(),
  },
  ...(by ? { by } : {}),
});

async function enqueueAlertEvent(
  trx: DbExecutor,
  row: Alert,
  event: AlertDeliveryPayload['event'],
  topics: readonly string[],
  ticket: boolean,
  by?: AlertDeliveryPayload['by'],
): Promise<void> {
  for (const topic of topics)
    await enqueueOutboxMessage(trx, {
      topic,
      dedupeKey: alertDeliveryKey(row.id, event),
      payload: payloadOf(row, event, ticket, by),
    });
}

/**
 * Stores an alert unless one with its key exists and, in the same transaction, queues one
 * outbox message per sink topic: the alert and its deliveries exist together or not at all,
 * and the relay retries each delivery until its sink takes it. The stored row, or null when
 * the key was raised before (nothing is queued again).
 */
export async function insertAlertWithDeliveries(
  db: Db,
  alert: NewAlert,
  { topics, ticket }: { topics: readonly string[]; ticket: boolean },
): Promise<Alert | null> {
  const run = async (trx: DbExecutor) => {
    const row = await trx
      .insertInto('alerts')
      .values(alert)
      .onConflict((oc) => oc.column('alert_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await enqueueAlertEvent(trx, row, 'trigger', topics, ticket);
    return row;
  };
  return db.transaction().execute(run);
}

/** Stores an alert unless one with its key exists (no deliveries); true when this call stored it. */
export async function insertAlertOnce(db: DbExecutor, alert: NewAlert): Promise<boolean> {
  const inserted = await db
    .insertInto('alerts')
    .values(alert)
    .onConflict((oc) => oc.column('alert_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** One sink's delivery of one alert event, as its outbox message stands. */
export interface AlertDelivery {
  sink: string;
  event: string;
  attempts: number;
  deliveredAt: Date | null;
  nextAttemptAt: Date;
  lastError: string | null;
}

export interface AlertView extends Alert {
  deliveries: AlertDelivery[];
  /** When the last sink took the alert; null while any delivery is still pending (or none was queued). */
  deliveredAt: Date | null;
}

async function deliveriesOf(db: DbExecutor, ids: string[]): Promise<Map<string, AlertDelivery[]>> {
  const byAlert = new Map<string, AlertDelivery[]>();
  if (ids.length === 0) return byAlert;
  const rows = await db
    .selectFrom('outbox_messages')
    .select(['topic', 'dedupe_key', 'attempts', 'delivered_at', 'next_attempt_at', 'last_error'])
    .where('topic', 'like', 'alert.%')
    .where(
      'dedupe_key',
      'in',
      ids.flatMap((id) =>
        (['trigger', 'acknowledge', 'resolve'] as const).map((e) => alertDeliveryKey(id, e)),
      ),
    )
    .orderBy('id')
    .execute();
  for (const row of rows) {
    const [, id, event] = (row.dedupe_key ?? '').split(':');
    const list = byAlert.get(id!) ?? [];
    list.push({
      sink: row.topic.replace(/^alert\./, ''),
      event: event!,
      attempts: row.attempts,
      deliveredAt: row.delivered_at,
      nextAttemptAt: row.next_attempt_at,
      lastError: row.last_error,
    });
    byAlert.set(id!, list);
  }
  return byAlert;
}

const withDeliveries = (row: Alert, deliveries: AlertDelivery[] = []): AlertView => {
  const pending = deliveries.some((d) => d.deliveredAt === null);
  const last = deliveries
    .map((d) => d.deliveredAt?.getTime() ?? 0)
    .reduce((a, b) => Math.max(a, b), 0);
  return {
    ...row,
    deliveries,
    deliveredAt: pending || deliveries.length === 0 ? null : new Date(last),
  };
};

export interface AlertListFilter {
  status?: AlertStatus | undefined;
  kind?: string | undefined;
  since?: Date | undefined;
  /** Keyset pagination: alerts with an id below this one (newest first). */
  beforeId?: string | undefined;
  limit: number;
}

/** Alerts newest first, each with its deliveries. */
export async function listAlerts(db: DbExecutor, filter: AlertListFilter): Promise<AlertView[]> {
  let query = db.selectFrom('alerts').selectAll();
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.beforeId) query = query.where(sql<boolean>`id < ${filter.beforeId}::bigint`);
  const rows = await query
    .orderBy(sql`id`, 'desc')
    .limit(filter.limit)
    .execute();
  const deliveries = await deliveriesOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((row) => withDeliveries(row, deliveries.get(row.id)));
}

export async function findAlert(db: DbExecutor, id: string): Promise<AlertView | null> {
  const row = await db
    .selectFrom('alerts')
    .selectAll()
    .where(sql<boolean>`id = ${id}::bigint`)
    .executeTakeFirst();
  if (!row) return null;
  return withDeliveries(row, (await deliveriesOf(db, [row.id])).get(row.id));
}

/**
 * Moves an alert to `acknowledged` or `resolved` in one transaction with its audit row and the
 * outbox messages that tell the sinks (PagerDuty's acknowledge / resolve event). Acknowledging
 * a resolved alert, or repeating a step, changes nothing and returns `changed: false`.
 */
export async function transitionAlert(
  db: Db,
  id: string,
  to: 'acknowledged' | 'resolved',
  act: { operator: string; role: string; reason: string; topics: readonly string[] },
): Promise<{ alert: Alert; changed: boolean } | null> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('alerts')
      .selectAll()
      .where(sql<boolean>`id = ${id}::bigint`)
      .forUpdate()
      .executeTakeFirst();
    if (!current) return null;
    const allowed: AlertStatus[] = to === 'acknowledged' ? ['open'] : ['open', 'acknowledged'];
    if (!allowed.includes(current.status)) return { alert: current, changed: false };
    const updated = await trx
      .updateTable('alerts')
      .set(
        to === 'acknowledged'
          ? { status: to, acknowledged_at: sql<Date>`now()`, acknowledged_by: act.operator }
          : { status: to, resolved_at: sql<Date>`now()`, resolved_by: act.operator },
      )
      .where('id', '=', current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, {
      actor: act.operator,
      action: to === 'acknowledged' ? 'alert.acknowledged' : 'alert.resolved',
      target: `alert:${current.id}`,
      reason: act.reason,
      detail: {
        alertKey: current.alert_key,
        kind: current.kind,
        previous: current.status,
        role: act.role,
      },
    });
    await enqueueAlertEvent(
      trx,
      updated,
      to === 'acknowledged' ? 'acknowledge' : 'resolve',
      act.topics,
      false,
      { operator: act.operator, reason: act.reason },
    );
    return { alert: updated, changed: true };
  });
}

/** The issue the tracker sink opened for an alert, if it recorded one. */
export async function findAlertTrackerIssue(db: DbExecutor, id: string): Promise<string | null> {
  const row = await db
    .selectFrom('alerts')
    .select('tracker_issue_url')
    .where(sql<boolean>`id = ${id}::bigint`)
    .executeTakeFirst();
  return row?.tracker_issue_url ?? null;
}

/** Records the issue opened for an alert (the first one recorded stays). */
export async function recordAlertTrackerIssue(
  db: DbExecutor,
  id: string,
  url: string,
): Promise<void> {
  await db
    .updateTable('alerts')
    .set({ tracker_issue_url: url })
    .where(sql<boolean>`id = ${id}::bigint`)
    .where('tracker_issue_url', 'is', null)
    .execute();
}

/** Whether one alert event's message to a sink was delivered, is still pending, or never queued. */
export async function alertEventDelivery(
  db: DbExecutor,
  topic: string,
  alertId: string,
  event: AlertDeliveryPayload['event'],
): Promise<'delivered' | 'pending' | 'absent'> {
  const row = await db
    .selectFrom('outbox_messages')
    .select('delivered_at')
    .where('topic', '=', topic)
    .where('dedupe_key', '=', alertDeliveryKey(alertId, event))
    .executeTakeFirst();
  if (!row) return 'absent';
  return row.delivered_at ? 'delivered' : 'pending';
}
