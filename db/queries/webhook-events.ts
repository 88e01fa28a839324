import type { DbExecutor } from '../database.ts';
import type { NewWebhookEvent, WebhookEvent } from '../tables/webhook-events.ts';

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
