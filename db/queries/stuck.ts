import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';

/** The jobs of these workflows, each with the time of its last status change (null: none). */
export async function listJobsWithLastEventAt(db: DbExecutor, workflowIds: string[]) {
  return db
    .selectFrom('fulfillment_jobs')
    .leftJoin('fulfillment_job_events', 'fulfillment_job_events.job_id', 'fulfillment_jobs.id')
    .select([
      'fulfillment_jobs.id',
      'fulfillment_jobs.workflow_id',
      'fulfillment_jobs.order_id',
      sql<Date | null>`max(fulfillment_job_events.created_at)`.as('last_event_at'),
    ])
    .where('fulfillment_jobs.workflow_id', 'in', workflowIds)
    .groupBy(['fulfillment_jobs.id', 'fulfillment_jobs.workflow_id', 'fulfillment_jobs.order_id'])
    .execute();
}

/** Ids of the jobs that reached `needs_attention` in (after, until]. */
export async function listJobIdsFailedBetween(
  db: DbExecutor,
  after: Date,
  until: Date,
): Promise<string[]> {
  const rows = await db
    .selectFrom('fulfillment_job_events')
    .select('job_id')
    .distinct()
    .where('status', '=', 'needs_attention')
    .where('created_at', '>', after)
    .where('created_at', '<=', until)
    .execute();
  return rows.map((row) => row.job_id);
}
