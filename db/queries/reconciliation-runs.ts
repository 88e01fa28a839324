import type { DbExecutor } from '../database.ts';
import type { ReconciliationRun } from '../tables/reconciliation-runs.ts';

/** The latest stored reconciliation runs, newest first, with their findings. */
export async function listReconciliationRuns(
  db: DbExecutor,
  limit: number,
): Promise<ReconciliationRun[]> {
  return db
    .selectFrom('reconciliation_runs')
    .selectAll()
    .orderBy('started_at', 'desc')
    .limit(limit)
    .execute();
}
