// Schedules across a fleet, with the processes a deployment runs: two workers started together
// leave one schedule of each kind (created by whichever took the periodic turn, never written
// again), and two deploy steps (`npm run ops -- schedules sync`) run at once with a changed
// definition apply it exactly once — read from the conflict token, which the server moves by
// one per write it applies.
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanups, makeScratchDir } from '../../stack/cleanups.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { loadConfig } from '../../config/env.ts';
import { connectTemporalClient } from '../../temporal/client.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { operationsSchedules, RECONCILE_SCHEDULE_ID } from '../../temporal/schedules.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { exitOf, serviceEnv, spawnService } from '../helpers/services.ts';

const cleanups = new Cleanups('schedules-fleet test');
let dir: string;
let temporal: Client;
let env: NodeJS.ProcessEnv;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
/** Every schedule this release defines (the configuration's values do not change the ids). */
const SCHEDULE_IDS = operationsSchedules({
  reconcileAutoHeal: false,
  reconcileCron: '0 2 * * *',
}).map((schedule) => schedule.scheduleId);

beforeAll(async () => {
  dir = await makeScratchDir(cleanups, 'fulfillment-schedules-');
  // Its own server and database: the schedule ids are fixed, and the periodic turn lives in
  // the database, so no other test file's workers may share either.
  scratch = await createScratchDatabase();
  cleanups.add('database', () => scratch.drop());
  const devServer = await startTemporalDevServer({ port: await getFreePort(), uiPort: null });
  cleanups.add('temporal dev server', () => devServer.stop());
  env = serviceEnv({ DATABASE_URL: scratch.url, TEMPORAL_ADDRESS: devServer.address });
  // With the processes' payload keys: schedules carry encrypted arguments and memo.
  temporal = await connectTemporalClient(temporalTargetFromConfig(loadConfig(env)));
  cleanups.add('client', () => temporal.connection.close());
});
afterAll(() => cleanups.runAll());

/** Writes (create = 1, then one per applied update or pause) of a schedule. */
async function conflictToken(scheduleId: string): Promise<number> {
  const { raw } = await temporal.schedule.getHandle(scheduleId).describe();
  return Number(Buffer.from(raw.conflictToken!).readBigUInt64BE());
}
async function scheduleIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const schedule of temporal.schedule.list()) ids.push(schedule.scheduleId);
  return ids.sort();
}

describe('schedules across a fleet', () => {
  it('two workers started together leave one of each schedule, written once', async () => {
    const workers = [spawnService('worker', env, dir), spawnService('worker', env, dir)];
    for (const worker of workers) cleanups.add('worker', () => worker.stop());
    // The fleet's periodic check comes a fraction of its interval after the start (≤ 40 s).
    await waitFor(
      'the schedules exist',
      async () => (await scheduleIds()).length === SCHEDULE_IDS.length,
      {
        timeoutMs: 90_000,
        intervalMs: 1_000,
        abort: () => workers[0]!.exitReason() ?? workers[1]!.exitReason(),
      },
    );
    expect(await scheduleIds()).toEqual([...SCHEDULE_IDS].sort());
    for (const id of SCHEDULE_IDS) expect(await conflictToken(id), id).toBe(1);
    const [turn] = await scratch.db
      .selectFrom('periodic_jobs')
      .select(['holder', 'runs'])
      .where('name', '=', 'temporal-schedules')
      .execute();
    expect(Number(turn?.runs)).toBe(1);
    const pids = workers.map((worker) => String(worker.child.pid));
    expect(pids).toContain(turn!.holder.split(':').at(-1));
    await Promise.all(workers.map((worker) => worker.stop()));
  }, 150_000);

  it('two deploy steps at once apply a changed definition exactly once', async () => {
    const before = await conflictToken(RECONCILE_SCHEDULE_ID);
    const changed = { ...env, RECONCILE_CRON: '30 4 * * *' };
    const runs = await Promise.all([
      exitOf(spawnService('ops', changed, dir, ['schedules', 'sync', '--json'])),
      exitOf(spawnService('ops', changed, dir, ['schedules', 'sync', '--json'])),
    ]);
    for (const run of runs) expect(run.code, run.output).toBe(0);
    expect(await conflictToken(RECONCILE_SCHEDULE_ID)).toBe(before + 1);
    const { spec } = await temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
    expect(spec.calendars?.[0]).toMatchObject({
      hour: [{ start: 4, end: 4, step: 1 }],
      minute: [{ start: 30, end: 30, step: 1 }],
    });
    // The unchanged ones were not written, and a third sync writes nothing at all.
    for (const id of SCHEDULE_IDS.filter((id) => id !== RECONCILE_SCHEDULE_ID))
      expect(await conflictToken(id), id).toBe(1);
    const again = await exitOf(spawnService('ops', changed, dir, ['schedules', 'sync', '--json']));
    expect(again.output).not.toContain('"outcome": "updated"');
    expect(await conflictToken(RECONCILE_SCHEDULE_ID)).toBe(before + 1);
  }, 120_000);
});
