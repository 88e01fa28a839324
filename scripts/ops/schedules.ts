import type { Client } from '@temporalio/client';
import type { Config } from '../../config/env.ts';
import { taskQueueOf } from '../../temporal/client.ts';
import { operationsSchedules, reconcileSchedules } from '../../temporal/schedules.ts';
import { printRows } from '../lib/table.ts';
import { UsageError } from './events.ts';

export const SCHEDULES_USAGE = `schedules sync                      the deploy step: create missing schedules, update those whose
                                    definition changed (conflict-token guarded), delete obsolete ones
schedules check                     what sync would do, writing nothing`;

/** `npm run ops -- schedules sync|check`: the operations schedules against this configuration. */
export async function runSchedulesCommand(
  argv: string[],
  { temporal, config, json }: { temporal: Client; config: Config; json: boolean },
): Promise<void> {
  const command = argv[0];
  if (command !== 'sync' && command !== 'check')
    throw new UsageError(`schedules: sync or check\n${SCHEDULES_USAGE}`);
  const results = await reconcileSchedules(
    temporal,
    operationsSchedules({
      reconcileAutoHeal: config.RECONCILE_AUTO_HEAL,
      reconcileCron: config.RECONCILE_CRON,
      taskQueue: taskQueueOf(temporal),
    }),
    { mode: command === 'sync' ? 'apply' : 'check' },
  );
  printRows(
    results.map(({ scheduleId, outcome, fingerprint }) => ({
      schedule: scheduleId,
      outcome,
      definition: fingerprint ?? '',
    })),
    json,
  );
  if (
    command === 'check' &&
    results.some((r) => r.outcome !== 'unchanged' && r.outcome !== 'absent')
  )
    process.exitCode = 3;
}
