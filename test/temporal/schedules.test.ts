// Schedules are reconciled, not rewritten: on the suite's Temporal server, with payloads
// encrypted as in production, several reconcilers run at once as replicas of a rolling deploy
// (or two `npm run ops -- schedules sync`) would. The conflict token counts applied updates
// (the server adds one per update it applies), so "applied exactly once" is read from it.
import { randomBytes } from 'node:crypto';
import type { Client, ScheduleOptions } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTemporalClient } from '../../temporal/client.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { reconcileSchedules } from '../../temporal/schedules.ts';
import { testConfig } from '../helpers/stack.ts';

/** Five replicas, each with a connection of its own, as separate processes would have. */
let replicas: Client[] = [];
beforeAll(async () => {
  const target = temporalTargetFromConfig(testConfig());
  replicas = await Promise.all(Array.from({ length: 5 }, () => connectTemporalClient(target)));
});
afterAll(async () => {
  await Promise.all(replicas.map((client) => client.connection.close()));
});
const client = () => replicas[0]!;

const unique = () => `test-schedule-${randomBytes(4).toString('hex')}`;

/** A daily schedule of a workflow nobody polls for (it never runs during the test). */
const definition = (scheduleId: string, cron: string, args: unknown[] = [{ heal: false }]) =>
  ({
    scheduleId,
    spec: { cronExpressions: [cron] },
    action: {
      type: 'startWorkflow',
      workflowType: 'reconciliationWorkflow',
      workflowId: `${scheduleId}-run`,
      taskQueue: `${scheduleId}-queue`,
      args,
    },
    policies: { overlap: 'BUFFER_ALL', catchupWindow: '7 days' },
  }) satisfies ScheduleOptions;

/** How many writes (updates, pauses) the server applied since creation (its token starts at 1). */
async function appliedUpdates(scheduleId: string): Promise<number> {
  const description = await client().schedule.getHandle(scheduleId).describe();
  return Number(Buffer.from(description.raw.conflictToken!).readBigUInt64BE()) - 1;
}
const hourOf = async (scheduleId: string) =>
  (await client().schedule.getHandle(scheduleId).describe()).spec.calendars?.[0]?.hour;

const reconcileAll = (desired: ScheduleOptions[], obsoleteIds: string[] = []) =>
  Promise.all(replicas.map((replica) => reconcileSchedules(replica, desired, { obsoleteIds })));

describe('schedule reconciliation', () => {
  it('leaves one schedule when replicas start together, and writes nothing when nothing changed', async () => {
    const id = unique();
    const results = (await reconcileAll([definition(id, '0 2 * * *')])).flat();
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'unchanged')).toHaveLength(replicas.length - 1);
    const listed: string[] = [];
    for await (const schedule of client().schedule.list()) listed.push(schedule.scheduleId);
    expect(listed.filter((scheduleId) => scheduleId === id)).toHaveLength(1);
    expect(await hourOf(id)).toEqual([{ start: 2, end: 2, step: 1 }]);

    // Every later start finds its definition in place: no write at all.
    const again = (await reconcileAll([definition(id, '0 2 * * *')])).flat();
    expect(new Set(again.map((r) => r.outcome))).toEqual(new Set(['unchanged']));
    expect(await appliedUpdates(id)).toBe(0);
    await client().schedule.getHandle(id).delete();
  });

  it('applies a changed definition exactly once, however many replicas apply it at the same time', async () => {
    const id = unique();
    await reconcileSchedules(client(), [definition(id, '0 2 * * *')]);
    // An operator paused it meanwhile: the pause survives the update.
    await client().schedule.getHandle(id).pause('investigating');
    const before = await appliedUpdates(id);

    const changed = definition(id, '0 3 * * *', [{ heal: true }]);
    const results = (await reconcileAll([changed])).flat();
    expect(results.every((r) => r.outcome === 'updated' || r.outcome === 'unchanged')).toBe(true);
    expect(await appliedUpdates(id)).toBe(before + 1);
    const description = await client().schedule.getHandle(id).describe();
    expect(description.spec.calendars?.[0]?.hour).toEqual([{ start: 3, end: 3, step: 1 }]);
    expect(description.action).toMatchObject({ args: [{ heal: true }] });
    expect(description.state).toMatchObject({ paused: true, note: 'investigating' });

    // Applied again with the same definition: nothing more is written.
    await reconcileAll([changed]);
    expect(await appliedUpdates(id)).toBe(before + 1);
    await client().schedule.getHandle(id).delete();
  });

  it('in create-missing mode (the workers’ periodic check) reports a changed definition and leaves it', async () => {
    const id = unique();
    await reconcileSchedules(client(), [definition(id, '0 2 * * *')]);
    const [result] = await reconcileSchedules(client(), [definition(id, '0 5 * * *')], {
      mode: 'create-missing',
    });
    expect(result).toMatchObject({ scheduleId: id, outcome: 'differs' });
    expect(await appliedUpdates(id)).toBe(0);
    expect(await hourOf(id)).toEqual([{ start: 2, end: 2, step: 1 }]);
    // `check` says the same and writes nothing either.
    const [checked] = await reconcileSchedules(client(), [definition(id, '0 5 * * *')], {
      mode: 'check',
    });
    expect(checked).toMatchObject({ outcome: 'differs' });
    await client().schedule.getHandle(id).delete();
  });

  it('deletes obsolete schedules once, and says absent when they are already gone', async () => {
    const keep = unique();
    const obsolete = unique();
    await reconcileSchedules(client(), [definition(obsolete, '0 1 * * *')]);
    const results = await reconcileAll([definition(keep, '0 2 * * *')], [obsolete]);
    const outcomes = results.map((perReplica) => perReplica.find((r) => r.scheduleId === obsolete));
    expect(outcomes.filter((r) => r?.outcome === 'deleted')).toHaveLength(1);
    expect(outcomes.filter((r) => r?.outcome === 'absent')).toHaveLength(replicas.length - 1);
    await expect(client().schedule.getHandle(obsolete).describe()).rejects.toThrow(/not found/i);
    await client().schedule.getHandle(keep).delete();
  });
});
