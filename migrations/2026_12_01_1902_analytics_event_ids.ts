import type { Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // Every analytics event names what it is about (customer, order, entitlement, product), so
  // an exported event can be joined to the business data without reading its properties. No
  // foreign keys: an event records what happened, and outlives a row support later removes.
  await db.schema
    .alterTable('analytics_events')
    .addColumn('entitlement_id', 'uuid')
    .addColumn('product_id', 'uuid')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('analytics_events')
    .dropColumn('entitlement_id')
    .dropColumn('product_id')
    .execute();
}
