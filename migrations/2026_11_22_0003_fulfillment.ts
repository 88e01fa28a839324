import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // One row per alert key: a step failing many times raises one alert, not one per attempt.
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('alert_key', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) =>
      c.notNull().check(sql`severity in ('warning', 'critical')`),
    )
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('detail', 'jsonb')
    .addColumn('job_id', 'uuid', (c) => c.references('fulfillment_jobs.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // The local analytics sink; idempotent per event key so a retried step emits once.
  await db.schema
    .createTable('analytics_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('event_key', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('order_id', 'uuid', (c) => c.references('orders.id'))
    .addColumn('customer_id', 'uuid', (c) => c.references('customers.id'))
    .addColumn('properties', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('analytics_events_name_idx')
    .on('analytics_events')
    .columns(['name', 'id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('analytics_events').execute();
  await db.schema.dropTable('alerts').execute();
}
