import type { ColumnType, Selectable } from 'kysely';

/** One row per periodic job: who ran its latest turn, and when the next one is due. */
export interface PeriodicJobsTable {
  name: string;
  holder: string;
  started_at: Date;
  next_due_at: Date;
  finished_at: Date | null;
  last_error: string | null;
  runs: ColumnType<string, string | number | undefined, string | number>;
}

export type PeriodicJob = Selectable<PeriodicJobsTable>;
