import type { DbExecutor } from '../database.ts';
import type { NewAlert } from '../tables/alerts.ts';

/** Stores an alert unless one with its key exists; true when this call stored it. */
export async function insertAlertOnce(db: DbExecutor, alert: NewAlert): Promise<boolean> {
  const inserted = await db
    .insertInto('alerts')
    .values(alert)
    .onConflict((oc) => oc.column('alert_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}
