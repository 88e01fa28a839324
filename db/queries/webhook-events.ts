import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';
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
