import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { Db } from '../database.ts';

/**
 * How many jobs are in each of `statuses` (a status without jobs has no row): a scan of
 * `fulfillment_jobs_status_idx` over those statuses only, however many jobs completed.
 */
export async function countJobsByStatus(db: Db, statuses: readonly FulfillmentStatus[]) {
  return db
    .selectFrom('fulfillment_jobs')
    .select(['status', db.fn.countAll<string>().as('count')])
    .where('status', 'in', statuses)
    .groupBy('status')
    .execute();
}
