import type { Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // The W3C trace context of the request that recorded the event: whichever process starts the
  // workflow later (right after the commit, the relay, a replay) continues that trace.
  await db.schema.alterTable('webhook_events').addColumn('traceparent', 'text').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_events').dropColumn('traceparent').execute();
}
