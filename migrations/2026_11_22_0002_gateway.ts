import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('reason', 'text')
    .addColumn('detail', 'jsonb')
    .addColumn('request_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('audit_log_action_idx')
    .on('audit_log')
    .columns(['action', 'id'])
    .execute();
  await db.schema.createIndex('audit_log_target_idx').on('audit_log').column('target').execute();

  await db.schema
    .alterTable('webhook_events')
    .addColumn('dispatch_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // The relay scans only what is still waiting for Temporal.
  await sql`create index webhook_events_undispatched_idx on webhook_events (id) where result is null`.execute(
    db,
  );
  await db.schema
    .createIndex('webhook_events_received_at_idx')
    .on('webhook_events')
    .column('received_at')
    .execute();
  await db.schema
    .createIndex('webhook_events_workflow_id_idx')
    .on('webhook_events')
    .column('workflow_id')
    .execute();

  // A purchase is keyed by its payment intent, or by its checkout session when there is none
  // (100 %-off coupons); both ids are kept when known.
  await db.schema.alterTable('orders').addColumn('purchase_key', 'text').execute();
  await db.schema
    .alterTable('orders')
    .addColumn('checkout_session_id', 'text', (c) => c.unique())
    .execute();
  await sql`update orders set purchase_key = coalesce(payment_intent_id, id::text)`.execute(db);
  await sql`alter table orders alter column purchase_key set not null`.execute(db);
  await sql`alter table orders add constraint orders_purchase_key_key unique (purchase_key)`.execute(
    db,
  );

  // When storage and persistence succeeded: before it, an entitlement stays `processing`.
  await db.schema.alterTable('entitlements').addColumn('activated_at', 'timestamptz').execute();

  // Refunds and disputes: facts about a payment that decide what its entitlements may be.
  await db.schema
    .createTable('payment_adjustments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('refund', 'dispute')`))
    .addColumn('external_id', 'text', (c) => c.notNull().unique())
    .addColumn('purchase_key', 'text', (c) => c.notNull())
    .addColumn('amount', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text')
    .addColumn('full', 'boolean', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('stripe_event_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('payment_adjustments_purchase_key_idx')
    .on('payment_adjustments')
    .column('purchase_key')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('payment_adjustments').execute();
  await db.schema.alterTable('entitlements').dropColumn('activated_at').execute();
  await sql`alter table orders drop constraint orders_purchase_key_key`.execute(db);
  await db.schema
    .alterTable('orders')
    .dropColumn('checkout_session_id')
    .dropColumn('purchase_key')
    .execute();
  await sql`drop index webhook_events_undispatched_idx`.execute(db);
  await db.schema.dropIndex('webhook_events_received_at_idx').execute();
  await db.schema.dropIndex('webhook_events_workflow_id_idx').execute();
  await db.schema.alterTable('webhook_events').dropColumn('dispatch_attempts').execute();
  await db.schema.dropTable('audit_log').execute();
}
