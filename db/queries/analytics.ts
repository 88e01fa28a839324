import type { DbExecutor } from '../database.ts';
import type { NewAnalyticsEvent } from '../tables/analytics-events.ts';

/** Records product analytics events; an event key already recorded is skipped, not repeated. */
export async function insertAnalyticsEvents(
  db: DbExecutor,
  events: NewAnalyticsEvent[],
): Promise<void> {
  await db
    .insertInto('analytics_events')
    .values(events)
    .onConflict((oc) => oc.column('event_key').doNothing())
    .execute();
}
