import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { Db } from '../database.ts';

/** How many jobs are in each of `statuses` (a status without jobs has no row). */
export async function countJobsByStatus(db: Db, statuses: readonly FulfillmentStatus[]) {
  return db
    .selectFrom('fulfillment_jobs')
    .select(['status', db.fn.countAll<string>().as('count')])
    .where('status', 'in', statuses)
    .groupBy('status')
    .execute();
}

/** How many jobs ever reached `needs_attention` (fulfillment_job_events is append-only). */
export async function countFailedJobs(db: Db): Promise<number> {
  const row = await db
    .selectFrom('fulfillment_job_events')
    .select((eb) => eb.fn.count<string>('job_id').distinct().as('count'))
    .where('status', '=', 'needs_attention')
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}
