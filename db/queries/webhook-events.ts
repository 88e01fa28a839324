import { sql } from 'kysely';
import type { Db, DbExecutor } from '../database.ts';
import { recordAudit } from './audit.ts';
import type { NewWebhookEvent, WebhookEvent, WebhookResult } from '../tables/webhook-events.ts';

export interface RecordedWebhookEvent {
  event: WebhookEvent;
  /** False when the provider had delivered this event id before. */
  inserted: boolean;
}

/** Writes the event to the inbox once; a repeat delivery returns the row already there. */
export async function recordWebhookEvent(
  db: DbExecutor,
  values: NewWebhookEvent,
): Promise<RecordedWebhookEvent> {
  const inserted = await db
    .insertInto('webhook_events')
    .values(values)
    .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { event: inserted, inserted: true };
  const existing = await db
    .selectFrom('webhook_events')
    .selectAll()
    .where('provider', '=', values.provider)
    .where('event_id', '=', values.event_id)
    .executeTakeFirstOrThrow();
  return { event: existing, inserted: false };
}

/**
 * Records a provider's event in the inbox and audits its arrival, in one transaction:
 * `webhook.received` (and `webhook.failed` when it is recorded as failed), or `webhook.duplicate`
 * for a redelivery. Returns the row, new or already there.
 */
export async function receiveWebhookEvent(
  db: Db,
  values: NewWebhookEvent,
  context: { actor: string; requestId: string | null },
): Promise<RecordedWebhookEvent> {
  return db.transaction().execute(async (trx) => {
    const recorded = await recordWebhookEvent(trx, values);
    const audit = { actor: context.actor, target: values.event_id, requestId: context.requestId };
    if (!recorded.inserted) {
      await recordAudit(trx, {
        ...audit,
        action: 'webhook.duplicate',
        detail: { type: values.type },
      });
    } else {
      await recordAudit(trx, {
        ...audit,
        action: 'webhook.received',
        detail: { type: values.type },
      });
      if (values.result === 'failed') {
        await recordAudit(trx, { ...audit, action: 'webhook.failed', reason: values.error });
      }
    }
    return recorded;
  });
}

export async function findWebhookEvent(
  db: DbExecutor,
  provider: string,
  eventId: string,
): Promise<WebhookEvent | undefined> {
  return db
    .selectFrom('webhook_events')
    .selectAll()
    .where('provider', '=', provider)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
}

/**
 * Recorded events never dispatched (result null) and older than `minAgeSeconds`, oldest first:
 * the relay's work.
 */
export async function listUndispatchedWebhookEvents(
  db: DbExecutor,
  { limit, minAgeSeconds }: { limit: number; minAgeSeconds: number },
): Promise<Pick<WebhookEvent, 'id' | 'event_id' | 'payload' | 'traceparent'>[]> {
  return db
    .selectFrom('webhook_events')
    .select(['id', 'event_id', 'payload', 'traceparent'])
    .where('result', 'is', null)
    .where('received_at', '<', sql<Date>`now() - make_interval(secs => ${minAgeSeconds})`)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** Counts a dispatch Temporal did not answer; the row stays undispatched for the relay. */
export async function recordFailedDispatchAttempt(
  db: DbExecutor,
  id: string,
  error: string,
): Promise<void> {
  await db
    .updateTable('webhook_events')
    .set((eb) => ({ dispatch_attempts: eb('dispatch_attempts', '+', 1), error }))
    .where('id', '=', id)
    .execute();
}

/** Another event, already dispatched, that started the same workflow. */
export async function findOtherDispatchOfWorkflow(
  db: DbExecutor,
  workflowId: string,
  eventId: string,
): Promise<{ id: string } | undefined> {
  return db
    .selectFrom('webhook_events')
    .select('id')
    .where('workflow_id', '=', workflowId)
    .where('event_id', '<>', eventId)
    .where('dispatched_at', 'is not', null)
    .executeTakeFirst();
}

/**
 * Settles an undispatched row as dispatched with `result`; false when it was settled already
 * (another dispatch of the same event got there first).
 */
export async function markWebhookDispatched(
  db: DbExecutor,
  id: string,
  { result, workflowId }: { result: WebhookResult; workflowId: string },
): Promise<boolean> {
  const updated = await db
    .updateTable('webhook_events')
    .set((eb) => ({
      dispatched_at: sql<Date>`now()`,
      processed_at: sql<Date>`now()`,
      result,
      workflow_id: workflowId,
      error: null,
      dispatch_attempts: eb('dispatch_attempts', '+', 1),
    }))
    .where('id', '=', id)
    .where('result', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return updated !== undefined;
}

/**
 * Records, once Temporal has confirmed the start or signal, that the event was dispatched, in
 * one transaction with its audit entry: `processed`, or `duplicate` when it `mayBeDuplicate` and
 * another event already dispatched the same workflow.
 */
export async function settleWebhookDispatch(
  db: Db,
  row: Pick<WebhookEvent, 'id' | 'event_id'>,
  {
    workflowId,
    mayBeDuplicate,
    actor,
  }: { workflowId: string; mayBeDuplicate: boolean; actor: string },
): Promise<WebhookResult> {
  return db.transaction().execute(async (trx) => {
    const other = await findOtherDispatchOfWorkflow(trx, workflowId, row.event_id);
    const result: WebhookResult = mayBeDuplicate && other ? 'duplicate' : 'processed';
    const updated = await markWebhookDispatched(trx, row.id, { result, workflowId });
    // Only the dispatch that settled the row audits it (concurrent duplicates race here).
    if (updated) {
      await recordAudit(trx, {
        actor,
        action: result === 'duplicate' ? 'webhook.duplicate' : 'webhook.processed',
        target: row.event_id,
        detail: { workflowId },
      });
    }
    return result;
  });
}

export interface WebhookEventFilter {
  /** `pending` selects events not yet dispatched (result null). */
  status?: WebhookResult | 'pending';
  type?: string;
  since?: Date;
  limit?: number;
}

/** The inbox, newest first, for the operator CLI. */
export async function listWebhookEvents(
  db: DbExecutor,
  filter: WebhookEventFilter,
): Promise<WebhookEvent[]> {
  let query = db.selectFrom('webhook_events').selectAll().orderBy('id', 'desc');
  if (filter.status === 'pending') query = query.where('result', 'is', null);
  else if (filter.status) query = query.where('result', '=', filter.status);
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.since) query = query.where('received_at', '>=', filter.since);
  return query.limit(filter.limit ?? 50).execute();
}

/**
 * Deletes settled events received more than `months` ago. Undispatched events are kept
 * whatever their age: they are work still owed.
 */
export async function pruneWebhookEvents(
  db: DbExecutor,
  months: number,
  { dryRun }: { dryRun: boolean },
): Promise<number> {
  const cutoff = sql<Date>`now() - make_interval(months => ${months})`;
  if (dryRun) {
    const row = await db
      .selectFrom('webhook_events')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('received_at', '<', cutoff)
      .where('result', 'is not', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
  const result = await db
    .deleteFrom('webhook_events')
    .where('received_at', '<', cutoff)
    .where('result', 'is not', null)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
