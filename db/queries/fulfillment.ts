import { sql } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';
import type { FulfillmentJob } from '../tables/fulfillment-jobs.ts';

/**
 * States only move forward: a completed job can still be revoked, a revoked one moves only by
 * an explicit restore (a won dispute), and a late or repeated step changes nothing.
 */
function mayTransition(from: FulfillmentStatus, to: FulfillmentStatus, restore: boolean): boolean {
  if (from === to) return false;
  if (from === 'revoked') return restore;
  if (from === 'completed') return to === 'revoked';
  return true;
}

/**
 * Moves a job to `status` and appends the change to `fulfillment_job_events`, both inside the
 * caller's transaction. Returns the job as it is afterwards (unchanged when not allowed).
 */
export async function transitionJob(
  trx: DbExecutor,
  jobId: string,
  status: FulfillmentStatus,
  detail: Record<string, unknown> | null = null,
  { restore = false }: { restore?: boolean } = {},
): Promise<FulfillmentJob> {
  const job = await trx
    .selectFrom('fulfillment_jobs')
    .selectAll()
    .where('id', '=', jobId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (!mayTransition(job.status, status, restore)) return job;
  const updated = await trx
    .updateTable('fulfillment_jobs')
    .set({
      status,
      updated_at: sql<Date>`now()`,
      completed_at:
        status === 'completed' && !job.completed_at ? sql<Date>`now()` : job.completed_at,
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
