import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';
import type { OutboxMessage } from '../tables/outbox-messages.ts';

export interface NewOutboxMessage {
  /** Which sink delivers it, e.g. `alert.slack` or `analytics.batch`. */
  topic: string;
  payload: unknown;
  /** One message per (topic, key), however often it is enqueued; omit for no deduplication. */
  dedupeKey?: string | null;
}

/**
 * Enqueues a message for delivery; pass the transaction of the fact it reports, so the message
 * exists exactly when the fact does. Returns false when (topic, key) was enqueued before.
 */
export async function enqueueOutboxMessage(
  db: DbExecutor,
  message: NewOutboxMessage,
): Promise<boolean> {
  const inserted = await db
    .insertInto('outbox_messages')
    .values({
      topic: message.topic,
      dedupe_key: message.dedupeKey ?? null,
      payload: JSON.stringify(message.payload),
    })
    .onConflict((oc) => oc.columns(['topic', 'dedupe_key']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/**
 * Claims up to `limit` due, undelivered messages of `topics` for `leaseSeconds` and counts the
 * attempt. `SKIP LOCKED` and the lease keep concurrent relays (any number of workers) off each
 * other's messages; a relay that dies mid-delivery leaves its claim to expire.
 */
export async function claimDueOutboxMessages(
  db: DbExecutor,
  {
    topics,
    limit,
    leaseSeconds,
  }: { topics: readonly string[]; limit: number; leaseSeconds: number },
): Promise<OutboxMessage[]> {
  if (topics.length === 0) return [];
  return db
    .updateTable('outbox_messages')
    .set((eb) => ({
      claimed_until: sql<Date>`now() + make_interval(secs => ${leaseSeconds})`,
      attempts: eb('attempts', '+', 1),
    }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('outbox_messages')
        .select('id')
        .where('delivered_at', 'is', null)
        .where('topic', 'in', topics)
        .where('next_attempt_at', '<=', sql<Date>`now()`)
        .where((w) =>
          w.or([w('claimed_until', 'is', null), w('claimed_until', '<', sql<Date>`now()`)]),
        )
        .orderBy('next_attempt_at')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
}

/** The sink accepted the message: it is never delivered again. */
export async function markOutboxDelivered(db: DbExecutor, id: string): Promise<void> {
  await db
    .updateTable('outbox_messages')
    .set({ delivered_at: sql`now()`, claimed_until: null, last_error: null })
    .where('id', '=', id)
    .execute();
}

/** The sink failed: release the claim and try again after `delaySeconds`. */
export async function scheduleOutboxRetry(
  db: DbExecutor,
  id: string,
  { error, delaySeconds }: { error: string; delaySeconds: number },
): Promise<void> {
  await db
    .updateTable('outbox_messages')
    .set({
      claimed_until: null,
      last_error: error,
      next_attempt_at: sql<Date>`now() + make_interval(secs => ${delaySeconds})`,
    })
    .where('id', '=', id)
    .execute();
}

/** Messages of a topic (undelivered first, then newest), for operators and tests. */
export async function listOutboxMessages(
  db: DbExecutor,
  {
    topic,
    undeliveredOnly = false,
    limit = 100,
  }: { topic?: string; undeliveredOnly?: boolean; limit?: number },
): Promise<OutboxMessage[]> {
  let query = db.selectFrom('outbox_messages').selectAll();
  if (topic) query = query.where('topic', '=', topic);
  if (undeliveredOnly) query = query.where('delivered_at', 'is', null);
  return query
    .orderBy(sql`delivered_at is null`, 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
