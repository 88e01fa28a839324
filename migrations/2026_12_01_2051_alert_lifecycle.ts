import { sql, type Kysely } from 'kysely';

/* Frozen in time: never edit a migration that has shipped; add a new one. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // An alert is open until an operator acknowledges or resolves it (who, when; the reason is in
  // audit_log). Its deliveries are outbox messages (topic `alert.<sink>`, dedupe key
  // `alert:<id>:<event>`); the issue the tracker sink opened is recorded here, so a retried
  // delivery finds it instead of opening a second one.
  await db.schema
    .alterTable('alerts')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('open')
        .check(sql`status in ('open', 'acknowledged', 'resolved')`),
    )
    .addColumn('acknowledged_at', 'timestamptz')
    .addColumn('acknowledged_by', 'text')
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('resolved_by', 'text')
    .addColumn('tracker_issue_url', 'text')
    .execute();
  await db.schema
    .createIndex('alerts_status_created')
    .on('alerts')
    .columns(['status', 'created_at'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations use Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('alerts_status_created').execute();
  await db.schema
    .alterTable('alerts')
    .dropColumn('status')
    .dropColumn('acknowledged_at')
    .dropColumn('acknowledged_by')
    .dropColumn('resolved_at')
    .dropColumn('resolved_by')
    .dropColumn('tracker_issue_url')
    .execute();
}
