import { sql } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';
import type { FulfillmentJob } from '../tables/fulfillment-jobs.ts';

/** Statuses a job never leaves by an ordinary step (only an explicit restore moves on). */
const TERMINAL_STATUSES: readonly FulfillmentStatus[] = ['completed', 'revoked'];

/**
 * Moves a job to `status` and appends the change to `fulfillment_job_events`, both inside the
 * caller's transaction. A repeat (the activity retried after it committed) changes nothing,
 * and a terminal status is never overwritten by a late step: states only move forward.
 */
export async function transitionJob(
  trx: DbExecutor,
  jobId: string,
  status: FulfillmentStatus,
  detail: Record<string, unknown> | null = null,
): Promise<FulfillmentJob> {
  const job = await trx
    .selectFrom('fulfillment_jobs')
    .selectAll()
    .where('id', '=', jobId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (job.status === status || TERMINAL_STATUSES.includes(job.status)) return job;
  const updated = await trx
    .updateTable('fulfillment_jobs')
    .set({
      status,
      updated_at: sql<Date>`now()`,
      completed_at: status === 'completed' ? sql<Date>`now()` : job.completed_at,
    })
    .where('id', '=', jobId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .insertInto('fulfillment_job_events')
    .values({ job_id: jobId, status, detail: detail ? JSON.stringify(detail) : null })
    .execute();
  return updated;
}
