import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

const now = sql`now()`;
const uuid = sql`gen_random_uuid()`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('api_version', 'text')
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('event_created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('dispatched_at', 'timestamptz')
    .addColumn('processed_at', 'timestamptz')
    .addColumn('result', 'text', (c) =>
      c.check(sql`result in ('processed', 'ignored', 'duplicate', 'failed')`),
    )
    .addColumn('error', 'text')
    .addColumn('workflow_id', 'text')
    .addUniqueConstraint('webhook_events_provider_event_id_key', ['provider', 'event_id'])
    .execute();

  await db.schema
    .createTable('customers')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('email', 'text', (c) =>
      c
        .notNull()
        .unique()
        .check(sql`email = lower(email)`),
    )
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending_claim', 'active')`),
    )
    .addColumn('auth_user_id', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('products')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('sku', 'text', (c) => c.notNull().unique())
    .addColumn('slug', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('formats', sql`text[]`, (c) => c.notNull())
    .addColumn('stripe_price_id', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('orders')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('stripe', 'reward')`))
    .addColumn('payment_intent_id', 'text', (c) => c.unique())
    .addColumn('customer_id', 'uuid', (c) => c.notNull().references('customers.id'))
    .addColumn('amount_total', 'integer')
    .addColumn('currency', 'text')
    .addColumn('paid_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('orders_customer_id_idx')
    .on('orders')
    .column('customer_id')
    .execute();

  await db.schema
    .createTable('entitlements')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('order_id', 'uuid', (c) => c.notNull().references('orders.id'))
    .addColumn('product_id', 'uuid', (c) => c.notNull().references('products.id'))
    .addColumn('customer_id', 'uuid', (c) => c.notNull().references('customers.id'))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(sql`status in ('processing', 'pending_claim', 'active', 'suspended', 'revoked')`),
    )
    .addColumn('archived', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('last_download_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('entitlements_order_id_product_id_key', ['order_id', 'product_id'])
    .execute();
  await db.schema
    .createIndex('entitlements_customer_id_idx')
    .on('entitlements')
    .column('customer_id')
    .execute();

  const jobStatusCheck = sql`status in ('pending_storage', 'pending_entitlement', 'pending_email', 'pending_retry', 'needs_attention', 'completed', 'revoked')`;
  await db.schema
    .createTable('fulfillment_jobs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('order_id', 'uuid', (c) => c.notNull().unique().references('orders.id'))
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) => c.notNull().check(jobStatusCheck))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('completed_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('fulfillment_jobs_status_idx')
    .on('fulfillment_jobs')
    .column('status')
    .execute();

  await db.schema
    .createTable('fulfillment_job_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('job_id', 'uuid', (c) => c.notNull().references('fulfillment_jobs.id'))
    .addColumn('status', 'text', (c) => c.notNull().check(jobStatusCheck))
    .addColumn('detail', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('fulfillment_job_events_job_id_idx')
    .on('fulfillment_job_events')
    .columns(['job_id', 'id'])
    .execute();

  await db.schema
    .createTable('email_deliveries')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('html', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('order_id', 'uuid', (c) => c.references('orders.id'))
    .addColumn('driver', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('queued')
        .check(sql`status in ('queued', 'sent', 'delivered', 'bounced', 'complained', 'failed')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('email_deliveries_order_id_idx')
    .on('email_deliveries')
    .column('order_id')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'email_deliveries',
    'fulfillment_job_events',
    'fulfillment_jobs',
    'entitlements',
    'orders',
    'products',
    'customers',
    'webhook_events',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
