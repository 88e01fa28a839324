import type { Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // Stripe's reason code of a refund (`requested_by_customer`, `duplicate`, `fraudulent`, …) or
  // a dispute (`fraudulent`, `product_not_received`, …), kept with the fact for support.
  await db.schema.alterTable('payment_adjustments').addColumn('reason', 'text').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('payment_adjustments').dropColumn('reason').execute();
}
