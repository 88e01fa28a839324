import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';
import type { PeriodicJob } from '../tables/periodic-jobs.ts';

/**
 * Takes this interval's turn of the periodic job `name` for `holder`, when one is due. One
 * statement: of any number of processes asking at once, exactly one gets each turn; the others
 * get false until `intervalSeconds` have passed since the winner started.
 */
export async function claimPeriodicTurn(
  db: DbExecutor,
  { name, holder, intervalSeconds }: { name: string; holder: string; intervalSeconds: number },
): Promise<boolean> {
  const nextDue = sql<Date>`now() + make_interval(secs => ${intervalSeconds})`;
  const claimed = await db
    .insertInto('periodic_jobs')
    .values({ name, holder, started_at: sql`now()`, next_due_at: nextDue, runs: 1 })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({
          holder,
          started_at: sql`now()`,
          next_due_at: nextDue,
          finished_at: null,
          last_error: null,
          runs: sql`periodic_jobs.runs + 1`,
        })
        .where('periodic_jobs.next_due_at', '<=', sql<Date>`now()`),
    )
    .returning('name')
    .executeTakeFirst();
  return claimed !== undefined;
}

/** Records how the holder's turn ended (`error` null: it succeeded). */
export async function finishPeriodicTurn(
  db: DbExecutor,
  { name, holder, error }: { name: string; holder: string; error: string | null },
): Promise<void> {
  await db
    .updateTable('periodic_jobs')
    .set({ finished_at: sql`now()`, last_error: error })
    .where('name', '=', name)
    .where('holder', '=', holder)
    .execute();
}

/** Every periodic job with its latest turn, for operators. */
export async function listPeriodicJobs(db: DbExecutor): Promise<PeriodicJob[]> {
  return db.selectFrom('periodic_jobs').selectAll().orderBy('name').execute();
}
