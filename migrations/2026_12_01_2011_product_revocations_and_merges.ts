import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // An operator's revocation of one product of an order (the order's other products stay):
  // a fact the entitlement's status is derived from, like payment_adjustments for a whole
  // order. One row per revoke; a restore marks it `restored` (the fact stays, for the record).
  await db.schema
    .createTable('product_revocations')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('entitlement_id', 'uuid', (c) => c.notNull().references('entitlements.id'))
    .addColumn('order_id', 'uuid', (c) => c.notNull().references('orders.id'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('revoked', 'restored')`))
    // The cancellation email's number within the order (the order's own is 1).
    .addColumn('email_sequence', 'integer', (c) => c.notNull())
    .addColumn('notify_buyer', 'boolean', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // At most one revocation in force per entitlement.
  await sql`create unique index product_revocations_in_force_idx
              on product_revocations (entitlement_id) where status = 'revoked'`.execute(db);
  await db.schema
    .createIndex('product_revocations_order_idx')
    .on('product_revocations')
    .column('order_id')
    .execute();

  // Purchases moved from one customer to another (the buyer changed email), with the
  // verification data points the operator checked.
  await db.schema
    .createTable('customer_merges')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('from_customer_id', 'uuid', (c) => c.notNull().references('customers.id'))
    .addColumn('to_customer_id', 'uuid', (c) => c.notNull().references('customers.id'))
    .addColumn('order_ids', sql`uuid[]`, (c) => c.notNull())
    .addColumn('entitlements_moved', 'integer', (c) => c.notNull())
    .addColumn('verification', 'jsonb', (c) => c.notNull())
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('customer_merges_from_idx')
    .on('customer_merges')
    .column('from_customer_id')
    .execute();
  await db.schema
    .createIndex('customer_merges_to_idx')
    .on('customer_merges')
    .column('to_customer_id')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('customer_merges').execute();
  await db.schema.dropTable('product_revocations').execute();
}
