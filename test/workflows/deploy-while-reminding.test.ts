import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { payloadDataConverter } from '../../temporal/data-converter.ts';
import { tracingWorkerOptions } from '../../worker/tracing.ts';
import { emailKinds, purchaseRows } from '../helpers/purchases.ts';
import { testConfig } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import {
  recordStripeEvent,
  startFulfillmentOn,
  useTimeSkippingSuite,
} from '../helpers/time-skipping.ts';

const suite = useTimeSkippingSuite();
const BEFORE_LEAN = fileURLToPath(new URL('./fixtures/before-lean-workflows.ts', import.meta.url));

/** A worker on `taskQueue` with the real activities and the given workflow bundle. */
async function workerWith(
  taskQueue: string,
  workflowBundle: { code: string } | { codePath: string },
) {
  return Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle,
    // No sticky cache: a stopped worker's sticky queue would hold the run's next task until
    // its timeout, which the test server does not skip.
    maxCachedWorkflows: 0,
    dataConverter: payloadDataConverter(testConfig().PAYLOAD_ENCRYPTION_KEYS),
    activities: createActivities(createActivityDeps(testConfig(), suite.db)),
    // The current bundle carries the tracing interceptors; they export through this sink.
    ...tracingWorkerOptions(),
  });
}

describe('a deploy while purchases sleep on their 7-day reminder', () => {
  it('lets a run started by the workers before the lean shape finish on the new workers, as it began', async () => {
    const taskQueue = `deploy-test-${randomBytes(4).toString('hex')}`;
    const paymentIntentId = stripeTestId('pi');
    const eventId = await recordStripeEvent(
      suite.db,
      paymentSucceeded({ paymentIntentId, email: `${paymentIntentId}@example.com` }),
    );

    // Before the deploy: the old fleet fulfils the guest's purchase, sends the 24 h reminders
    // and the run goes to sleep on its 7-day reminder.
    const before = await workerWith(taskQueue, {
      code: (
        await bundleWorkflowCode({ workflowsPath: BEFORE_LEAN, logger: new DefaultLogger('WARN') })
      ).code,
    });
    const handle = await before.runUntil(async () => {
      const started = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await suite.env.sleep('25 hours');
      return started;
    });
    expect(emailKinds(await purchaseRows(suite.db, paymentIntentId))).toEqual([
      'claim_reminder_24h',
      'delivery',
      'download_reminder',
    ]);

    // The deploy: only workers on the current bundle remain. The run wakes on one of them.
    const after = await workerWith(taskQueue, { codePath: inject('workflowBundlePath') });
    const result = await after.runUntil(handle.result());

    expect(result.status).toBe('completed');
    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(emailKinds(rows)).toEqual([
      'claim_reminder_24h',
      'claim_reminder_7d',
      'delivery',
      'download_reminder',
    ]);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    // It kept the shape it began with: the old steps, and no lean-fulfillment patch marker.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.flatMap(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [],
    );
    expect(scheduled).toEqual([
      'recordPurchase',
      'verifyAssets',
      'activateEntitlements',
      'sendOrderEmail',
      'emitAnalytics',
      'completeJob',
      'sendReminders',
      'sendReminders',
    ]);
    expect(events.filter((e) => e.markerRecordedEventAttributes)).toEqual([]);
  });
});
