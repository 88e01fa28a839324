import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // Mission and coupon unlocks: what was granted to whom, recorded before the workflow starts.
  await db.schema
    .createTable('rewards')
    .addColumn('reward_id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('mission', 'coupon')`))
    .addColumn('mission_id', 'text')
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('skus', sql`text[]`, (c) => c.notNull())
    .addColumn('granted_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoke_reason', 'text')
    .execute();

  // A reward taken back is a revocation fact, like a full refund.
  await sql`alter table payment_adjustments drop constraint payment_adjustments_kind_check`.execute(
    db,
  );
  await sql`alter table payment_adjustments add constraint payment_adjustments_kind_check check (kind in ('refund', 'dispute', 'revocation'))`.execute(
    db,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from payment_adjustments where kind = 'revocation'`.execute(db);
  await sql`alter table payment_adjustments drop constraint payment_adjustments_kind_check`.execute(
    db,
  );
  await sql`alter table payment_adjustments add constraint payment_adjustments_kind_check check (kind in ('refund', 'dispute'))`.execute(
    db,
  );
  await db.schema.dropTable('rewards').execute();
}
