import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('webhook_events')
    // The body exactly as it was signed. PostgreSQL's jsonb (and text) cannot hold U+0000, so
    // an event carrying one keeps `payload` null and is read back from these bytes.
    .addColumn('raw_body', 'bytea')
    // How many times the provider delivered this event id (redeliveries, concurrent copies).
    .addColumn('deliveries', 'integer', (c) => c.notNull().defaultTo(1))
    // When an undispatched event may next be claimed: the receiving process holds it until then
    // (a lease), after a failed attempt it is the backoff; null once settled.
    .addColumn('next_dispatch_at', 'timestamptz')
    // Who handed it to Temporal: `api` (right after the ack), `relay`, or an operator's replay.
    .addColumn('dispatched_by', 'text')
    .execute();
  await sql`alter table webhook_events alter column payload drop not null`.execute(db);
  // Undispatched events recorded before this migration are due at once.
  await sql`update webhook_events set next_dispatch_at = received_at where result is null`.execute(
    db,
  );

  // The relay's claim: undispatched events whose lease or backoff has run out.
  await sql`drop index if exists webhook_events_undispatched_idx`.execute(db);
  await sql`create index webhook_events_dispatch_due_idx on webhook_events (next_dispatch_at) where result is null`.execute(
    db,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index webhook_events_dispatch_due_idx`.execute(db);
  await sql`create index webhook_events_undispatched_idx on webhook_events (id) where result is null`.execute(
    db,
  );
  await sql`delete from webhook_events where payload is null`.execute(db);
  await sql`alter table webhook_events alter column payload set not null`.execute(db);
  await db.schema
    .alterTable('webhook_events')
    .dropColumn('raw_body')
    .dropColumn('deliveries')
    .dropColumn('next_dispatch_at')
    .dropColumn('dispatched_by')
    .execute();
}
