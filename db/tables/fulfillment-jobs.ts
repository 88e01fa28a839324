import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';

/** The projection of a job's event log, for list views and the operator CLI. */
export interface FulfillmentJobsTable {
  id: Generated<string>;
  order_id: string;
  workflow_id: string;
  status: FulfillmentStatus;
  last_error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  completed_at: Date | null;
}

/** Append-only: every status change of a job, written in the same transaction as the change. */
export interface FulfillmentJobEventsTable {
  id: Generated<string>;
  job_id: string;
  status: FulfillmentStatus;
  detail: ColumnType<unknown, string | null, never> | null;
  created_at: Generated<Date>;
}

export type FulfillmentJob = Selectable<FulfillmentJobsTable>;
export type NewFulfillmentJob = Insertable<FulfillmentJobsTable>;
export type FulfillmentJobEvent = Selectable<FulfillmentJobEventsTable>;
