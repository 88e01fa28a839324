import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // One row per periodic job (gap check, retention prune, stuck scan…): whichever process
  // moves `next_due_at` forward runs that interval's turn, so a job runs once per interval
  // across any number of replicas.
  await db.schema
    .createTable('periodic_jobs')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('next_due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('runs', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();

  // Messages to outside services (alert sinks, analytics exporters) written in the same
  // transaction as the fact they report, then delivered by whichever process claims them,
  // with retries and backoff: a sink that is down loses nothing.
  await db.schema
    .createTable('outbox_messages')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('topic', 'text', (c) => c.notNull())
    // One message per (topic, key) however often it is enqueued; null keys never collide.
    .addColumn('dedupe_key', 'text')
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('claimed_until', 'timestamptz')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addUniqueConstraint('outbox_messages_topic_dedupe_key_key', ['topic', 'dedupe_key'])
    .execute();
  // The relay's claim: undelivered messages of a topic whose attempt is due.
  await db.schema
    .createIndex('outbox_messages_due_idx')
    .on('outbox_messages')
    .columns(['topic', 'next_attempt_at'])
    .where(sql.ref('delivered_at'), 'is', null)
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox_messages').execute();
  await db.schema.dropTable('periodic_jobs').execute();
}
