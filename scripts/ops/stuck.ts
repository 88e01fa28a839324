import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { findStuckJobs, stuckVisibilityQuery } from '../../support/stuck.ts';
import { printRows } from '../lib/table.ts';
import { UsageError } from './events.ts';

export const STUCK_USAGE = `stuck [--minutes N]                 running fulfillments in a pending_* status for more than N minutes (default STUCK_THRESHOLD_MINUTES)`;

/** `npm run ops -- stuck`: what the every-minute scan would alert on, now. */
export async function runStuckCommand(
  argv: string[],
  { db, temporal, config, json }: { db: Db; temporal: Client; config: Config; json: boolean },
): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { minutes: { type: 'string' } } });
  const minutes =
    values.minutes === undefined ? config.STUCK_THRESHOLD_MINUTES : Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes < 0) {
    throw new UsageError(`--minutes: expected a number of minutes, got ${values.minutes}`);
  }
  const stuck = await findStuckJobs({ db, temporal, now: new Date(), thresholdMinutes: minutes });
  const ui = config.TEMPORAL_UI_URL.replace(/\/$/, '');
  const rows = stuck.map((job) => ({
    workflow_id: job.workflowId,
    status: job.status,
    since: job.since,
    minutes: job.minutes,
    job_id: job.jobId,
    order_id: job.orderId,
    temporal_ui: `${ui}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(job.workflowId)}/${job.runId}`,
  }));
  printRows(rows, json);
  if (!json) {
    console.log(
      `\n${stuck.length} stuck (pending for more than ${minutes} minutes). Temporal UI query:\n  ${stuckVisibilityQuery()}`,
    );
  }
}
