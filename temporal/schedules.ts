import { createHash, randomUUID } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
} from '@temporalio/client';
// The SDK's own encoders for an UpdateSchedule request: `ScheduleHandle.update()` sends no
// conflict token (SDK 1.24), so `applyDefinition` builds the same request with one.
import {
  compileUpdatedScheduleOptions,
  encodeScheduleAction,
  encodeSchedulePolicies,
  encodeScheduleSpec,
  encodeScheduleState,
} from '@temporalio/client/lib/schedule-helpers.js';
import {
  FULFILLMENT_TASK_QUEUE,
  WORKFLOW_TYPES,
  type ReconciliationWorkflowInput,
} from '../workflows/contracts.ts';

export const RECONCILE_SCHEDULE_ID = 'ops-reconcile-daily';

/**
 * Schedules an earlier release created and this one no longer defines: reconciliation deletes
 * them. Keep an id here for as long as any deployment might still have it (a few releases).
 * `ops-stuck-scan` ran the stuck scan every minute (about 5,760 actions a day); the scan is now
 * a periodic job in the workers (worker/operations.ts), at no Temporal cost.
 */
export const OBSOLETE_SCHEDULE_IDS: readonly string[] = ['ops-stuck-scan'];

export interface OperationsScheduleOptions {
  /** RECONCILE_AUTO_HEAL: the daily run re-drives the safe classes itself. */
  reconcileAutoHeal: boolean;
  /** When the daily reconciliation runs (cron, UTC): it covers the UTC day before. */
  reconcileCron: string;
  taskQueue?: string;
}

/** The schedules' definitions (exported so a test can hold them to what the docs say). */
export function operationsSchedules(options: OperationsScheduleOptions): ScheduleOptions[] {
  const taskQueue = options.taskQueue ?? FULFILLMENT_TASK_QUEUE;
  const reconcileInput: ReconciliationWorkflowInput = {
    heal: options.reconcileAutoHeal,
    actor: 'schedule',
  };
  return [
    {
      scheduleId: RECONCILE_SCHEDULE_ID,
      spec: { cronExpressions: [options.reconcileCron] },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.reconciliation,
        workflowId: 'ops-reconcile',
        taskQueue,
        args: [reconcileInput],
      },
      policies: {
        // Every missed day is reconciled, one after the other (each run reconciles the day
        // before its own scheduled time).
        overlap: 'BUFFER_ALL',
        // Catch up on a week of missed days after an outage (Stripe keeps events 30 days).
        catchupWindow: '7 days',
      },
      memo: { purpose: 'daily Stripe reconciliation' },
    },
  ];
}

/** Where a schedule carries the fingerprint of the definition it was last written from. */
export const DEFINITION_MEMO_KEY = 'definitionFingerprint';

/**
 * A stable fingerprint of a schedule's definition (spec, action, policies), as this release
 * and configuration describe it. The server rewrites specs when it stores them (a cron
 * expression comes back as calendars), so the desired and the stored schedule are compared by
 * this fingerprint, kept in the action's memo, rather than field by field.
 */
export function definitionFingerprint(schedule: ScheduleOptions): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
          )
        : value;
  // The memo carries the fingerprint itself: everything else of the action counts.
  const action = { ...schedule.action, memo: undefined };
  return createHash('sha256')
    .update(JSON.stringify(canonical({ spec: schedule.spec, action, policies: schedule.policies })))
    .digest('hex')
    .slice(0, 32);
}

export type ScheduleOutcome =
  /** Absent, so created. */
  | 'created'
  /** Its definition differed and was replaced, guarded by the conflict token. */
  | 'updated'
  /** Already as defined: nothing was written. */
  | 'unchanged'
  /** Differs, but this run only creates what is missing (`mode: 'create-missing'`). */
  | 'differs'
  /** Obsolete, and deleted. */
  | 'deleted'
  /** Obsolete, and already gone. */
  | 'absent'
  /** `mode: 'check'`: absent, would be created. */
  | 'missing'
  /** `mode: 'check'`: obsolete and still there, would be deleted. */
  | 'obsolete';

export interface ScheduleReconciliation {
  scheduleId: string;
  outcome: ScheduleOutcome;
  fingerprint?: string;
}

const currentFingerprint = (description: ScheduleDescription): unknown =>
  description.action.type === 'startWorkflow'
    ? description.action.memo?.[DEFINITION_MEMO_KEY]
    : undefined;

/**
 * Writes `schedule` over the stored one, but only if nobody wrote it since `description` was
 * read: the request carries the conflict token of that read, and the server drops an update
 * whose token is stale. The schedule's pause state and note (an operator's) are kept.
 */
async function applyDefinition(
  client: Client,
  schedule: ScheduleOptions,
  description: ScheduleDescription,
): Promise<void> {
  const namespace = client.options.namespace;
  const updated = compileUpdatedScheduleOptions(schedule.scheduleId, {
    spec: schedule.spec,
    action: schedule.action,
    policies: schedule.policies ?? {},
    state: { paused: description.state.paused, note: description.state.note ?? '' },
  });
  await client.workflowService.updateSchedule({
    namespace,
    scheduleId: schedule.scheduleId,
    conflictToken: description.raw.conflictToken ?? null,
    schedule: {
      spec: encodeScheduleSpec(updated.spec),
      action: await encodeScheduleAction(
        client.options.loadedDataConverter,
        namespace,
        updated.action,
        description.raw.schedule?.action?.startWorkflow?.header?.fields ?? {},
      ),
      policies: encodeSchedulePolicies(updated.policies),
      state: encodeScheduleState(updated.state),
    },
    identity: client.options.identity,
    requestId: randomUUID(),
  });
}

/**
 * Brings Temporal's schedules to `desired`, idempotently and safely from many processes at
 * once: a schedule that is absent is created; one whose stored fingerprint equals the desired
 * definition's is left alone (no write at all); one that differs is updated with the conflict
 * token of the read it was compared on, so of concurrent reconcilers that read the same state
 * exactly one update lands, and the others find the definition in place when they look again;
 * `obsoleteIds` are deleted. `mode: 'create-missing'` (the workers' periodic repair) never
 * updates a schedule that exists — changing a definition is the deploy step's
 * (`npm run ops -- schedules sync`), so replicas of two releases never overwrite each other.
 * `mode: 'check'` writes nothing and says what `apply` would do.
 */
export async function reconcileSchedules(
  client: Client,
  desired: readonly ScheduleOptions[],
  {
    obsoleteIds = OBSOLETE_SCHEDULE_IDS,
    mode = 'apply',
  }: { obsoleteIds?: readonly string[]; mode?: 'apply' | 'create-missing' | 'check' } = {},
): Promise<ScheduleReconciliation[]> {
  const results: ScheduleReconciliation[] = [];
  for (const definition of desired) {
    const fingerprint = definitionFingerprint(definition);
    if (definition.action.type !== 'startWorkflow')
      throw new Error(`${definition.scheduleId}: only startWorkflow schedules are reconciled`);
    const schedule: ScheduleOptions = {
      ...definition,
      action: {
        ...definition.action,
        memo: { ...definition.action.memo, [DEFINITION_MEMO_KEY]: fingerprint },
      },
    };
    const handle = client.schedule.getHandle(schedule.scheduleId);
    let outcome: ScheduleOutcome | null = null;
    let wrote = false;
    // A lost race (a concurrent create, or an update with a stale token) is read again: three
    // rounds settle any number of reconcilers that want the same definition.
    for (let round = 0; outcome === null && round < 3; round += 1) {
      let description: ScheduleDescription;
      try {
        description = await handle.describe();
      } catch (error) {
        if (!(error instanceof ScheduleNotFoundError)) throw error;
        if (mode === 'check') {
          outcome = 'missing';
          continue;
        }
        try {
          await client.schedule.create(schedule);
          outcome = 'created';
        } catch (createError) {
          if (!(createError instanceof ScheduleAlreadyRunning)) throw createError;
        }
        continue;
      }
      if (currentFingerprint(description) === fingerprint) {
        outcome = wrote ? 'updated' : 'unchanged';
      } else if (mode !== 'apply') {
        outcome = 'differs';
      } else {
        await applyDefinition(client, schedule, description);
        wrote = true;
        // Verified on the next round: in place → updated (by us, or by a concurrent writer of
        // the same definition whose update made ours stale); otherwise try again.
      }
    }
    if (outcome === null)
      throw new Error(`${schedule.scheduleId}: another writer kept changing the schedule`);
    results.push({ scheduleId: schedule.scheduleId, outcome, fingerprint });
  }
  for (const scheduleId of obsoleteIds) {
    if (mode === 'check') {
      const present = await client.schedule
        .getHandle(scheduleId)
        .describe()
        .then(
          () => true,
          (error: unknown) => {
            if (error instanceof ScheduleNotFoundError) return false;
            throw error;
          },
        );
      results.push({ scheduleId, outcome: present ? 'obsolete' : 'absent' });
      continue;
    }
    try {
      await client.schedule.getHandle(scheduleId).delete();
      results.push({ scheduleId, outcome: 'deleted' });
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
      results.push({ scheduleId, outcome: 'absent' });
    }
  }
  return results;
}

/**
 * Reconciles the operations schedules with the configuration (see `reconcileSchedules`).
 * Returns their ids.
 */
export async function ensureOperationsSchedules(
  client: Client,
  options: OperationsScheduleOptions,
  mode: 'apply' | 'create-missing' = 'apply',
): Promise<string[]> {
  const results = await reconcileSchedules(client, operationsSchedules(options), { mode });
  return results.filter((result) => result.fingerprint).map((result) => result.scheduleId);
}
