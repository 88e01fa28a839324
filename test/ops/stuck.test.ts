import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { ScheduleNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import type { EmailDriver } from '../../drivers/email/driver.ts';
import { waitFor } from '../../stack/processes.ts';
import { upsertProducts } from '../../db/queries/products.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { tracingWorkerOptions } from '../../worker/tracing.ts';
import {
  buildPaymentIntentSucceededEvent,
  recordStripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import {
  OBSOLETE_SCHEDULE_IDS,
  RECONCILE_SCHEDULE_ID,
  ensureOperationsSchedules,
} from '../../temporal/schedules.ts';
import {
  fulfillmentStatusQuery,
  fulfillmentWorkflowId,
  searchAttributes,
  type FulfillmentInput,
} from '../../workflows/contracts.ts';
import { runOperationsScan, STUCK_SCAN_INTERVAL_SECONDS } from '../../support/stuck.ts';
import { stuckScanJob } from '../../worker/operations.ts';
import { startPeriodicJobs } from '../../worker/periodic.ts';
import { startOutboxRelay, type OutboxRelay } from '../../worker/outbox-relay.ts';
import { alertOutboxSinks } from '../../drivers/alert-sinks.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const run = promisify(execFile);

/** Our own alert sink protocol, received by a real HTTP server: Slack `{ text }` and JSON. */
async function startAlertReceiver() {
  const received: { path: string; body: Record<string, unknown> }[] = [];
  const server = http.createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// A database of this file's own: every worker of the suite runs the stuck scan as a periodic
// job, and one of theirs on the suite's database would race the alerts these tests count.
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let stack: TestStack;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
let connection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
/** Delivers the queued alerts to the receiver, as the workers' outbox relay does. */
let alertRelay: OutboxRelay;
const taskQueue = `ops-stuck-test-${randomBytes(4).toString('hex')}`;
/** The email provider of this file's worker hangs until the test lets it answer. */
let releaseEmail: () => void = () => undefined;
const emailGate = new Promise<void>((resolve) => (releaseEmail = resolve));
const hangingEmail: EmailDriver = {
  name: 'hanging',
  async send(email) {
    await emailGate;
    return { driver: 'hanging', providerMessageId: `hang:${email.idempotencyKey}` };
  },
};

beforeAll(async () => {
  receiver = await startAlertReceiver();
  scratch = await createScratchDatabase();
  // No worker on the shared `fulfillment` queue: this file's runs go to its own queue below.
  stack = await startTestStack({ worker: false, env: { DATABASE_URL: scratch.url } });
  connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  worker = await Worker.create({
    connection,
    namespace: stack.config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    ...(temporalTargetFromConfig(stack.config).dataConverter
      ? { dataConverter: temporalTargetFromConfig(stack.config).dataConverter }
      : {}),
    activities: createActivities({
      ...createActivityDeps(stack.config, stack.db),
      email: hangingEmail,
      alerts: sinks(),
    }),
    ...tracingWorkerOptions(),
  });
  workerRun = worker.run();
  alertRelay = startOutboxRelay(stack.db, alertOutboxSinks(stack.db, sinks()), { pollMs: 50 });
});
afterAll(async () => {
  await alertRelay?.stop();
  releaseEmail();
  worker?.shutdown();
  await workerRun;
  await connection?.close();
  await stack?.close();
  await scratch?.drop();
  await receiver?.close();
});

const sinks = () => ({
  slackWebhookUrl: `${receiver.url}/slack`,
  webhookUrl: `${receiver.url}/hook`,
});
const alertConfig = () => ({
  ALERT_SLACK_WEBHOOK_URL: `${receiver.url}/slack`,
  ALERT_WEBHOOK_URL: `${receiver.url}/hook`,
});

/** What the receiver got about a workflow, once the relay delivered `count` posts. */
async function postedAbout(workflowId: string, count: number) {
  const about = () => receiver.received.filter((r) => JSON.stringify(r.body).includes(workflowId));
  await waitFor(`${count} alert posts about ${workflowId}`, async () => about().length >= count);
  await alertRelay.deliverDue();
  return about();
}

/** One scan, as the workers' periodic job runs it, with the clock at `asOf`. */
function scan({ asOf, failureThreshold = 1_000_000 }: { asOf: Date; failureThreshold?: number }) {
  return runOperationsScan({
    db: stack.db,
    temporal: stack.temporal,
    sinks: sinks(),
    now: asOf,
    thresholdMinutes: 5,
    failureThreshold,
    taskQueue,
  });
}

/** Records a purchase's success event and starts its fulfillment on this file's queue. */
async function startPurchase(skus: string[]) {
  const paymentIntentId = stripeTestId('pi');
  const event = buildPaymentIntentSucceededEvent({
    paymentIntentId,
    skus,
    email: `stuck-${paymentIntentId}@example.com`,
  });
  await recordStripeEvent(stack.db, event);
  const input: FulfillmentInput = {
    source: 'stripe',
    purchaseKey: paymentIntentId,
    paymentIntentId,
    stripeEventId: event.id,
  };
  const handle = await stack.temporal.workflow.start('fulfillmentWorkflow', {
    taskQueue,
    workflowId: fulfillmentWorkflowId(paymentIntentId),
    args: [input],
    typedSearchAttributes: [
      { key: searchAttributes.fulfillmentStatus, value: 'pending_storage' },
      { key: searchAttributes.paymentIntentId, value: paymentIntentId },
    ],
  });
  return { paymentIntentId, handle };
}

const stuckAlerts = (jobId: string) =>
  stack.db
    .selectFrom('alerts')
    .select(['alert_key', 'kind', 'severity', 'summary'])
    .where('job_id', '=', jobId)
    .where('kind', '=', 'fulfillment.stuck')
    .execute();

describe('stuck fulfillments', () => {
  it('alerts once, within about six minutes, for a job stuck in pending_email', async () => {
    const { paymentIntentId, handle } = await startPurchase(['ebook-durable-execution']);
    const workflowId = fulfillmentWorkflowId(paymentIntentId);

    // The receipt is being sent (the provider hangs): pending_email, in the workflow and in
    // the visibility store the scan reads.
    await waitFor('pending_email', async () => {
      const state = await handle.query(fulfillmentStatusQuery);
      return state.status === 'pending_email';
    });
    await waitFor('visibility shows pending_email', async () => {
      const description = await handle.describe();
      return (
        description.typedSearchAttributes.get(searchAttributes.fulfillmentStatus) ===
        'pending_email'
      );
    });
    const job = await stack.db
      .selectFrom('fulfillment_jobs')
      .innerJoin('fulfillment_job_events', 'fulfillment_job_events.job_id', 'fulfillment_jobs.id')
      .select(['fulfillment_jobs.id', 'fulfillment_job_events.created_at'])
      .where('fulfillment_jobs.workflow_id', '=', workflowId)
      .where('fulfillment_job_events.status', '=', 'pending_email')
      .executeTakeFirstOrThrow();

    // The operator's view now: the job is listed with its status (threshold 0 minutes).
    const { stdout } = await run(
      process.execPath,
      ['scripts/ops.ts', 'stuck', '--minutes', '0', '--json'],
      {
        env: {
          PATH: process.env['PATH'],
          DATABASE_URL: stack.config.DATABASE_URL,
          TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
          TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
          STRIPE_SECRET_KEY: stack.config.STRIPE_SECRET_KEY,
          STRIPE_WEBHOOK_SECRETS: stack.config.STRIPE_WEBHOOK_SECRETS.join(','),
          PAYLOAD_ENCRYPTION_KEYS: inject('payloadEncryptionKeys'),
        },
      },
    );
    const listed = (
      JSON.parse(stdout) as { workflow_id: string; status: string; job_id: string }[]
    ).filter((row) => row.workflow_id === workflowId);
    expect(listed).toMatchObject([
      { workflow_id: workflowId, status: 'pending_email', job_id: job.id },
    ]);

    // The workers' periodic scan, one interval after another on a driven clock: the first
    // scan past 5 minutes alerts (well within 6), and no later one again.
    const alertedAt: number[] = [];
    for (let seconds = 0; seconds <= 8 * 60; seconds += STUCK_SCAN_INTERVAL_SECONDS) {
      const asOf = new Date(job.created_at.getTime() + seconds * 1000 + 1_000);
      const result = await scan({ asOf });
      if (result.alerted.includes(workflowId)) alertedAt.push(seconds);
    }
    expect(alertedAt).toEqual([300]);
    const rows = await stuckAlerts(job.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'fulfillment.stuck', severity: 'warning' });
    expect(rows[0]!.summary).toContain(`${workflowId} has been pending_email for 5 minutes`);
    const posted = await postedAbout(workflowId, 2);
    expect(posted.map((r) => r.path).sort()).toEqual(['/hook', '/slack']);
    expect(posted.find((r) => r.path === '/slack')!.body['text']).toContain('pending_email');

    // The provider answers: the job completes and stays open only for its reminders — not stuck.
    releaseEmail();
    await waitFor('reminding', async () => {
      const state = await handle.query(fulfillmentStatusQuery);
      return state.phase === 'reminding';
    });
    await waitFor('visibility shows completed', async () => {
      const description = await handle.describe();
      return (
        description.typedSearchAttributes.get(searchAttributes.fulfillmentStatus) === 'completed'
      );
    });
    const later = await scan({ asOf: new Date(Date.now() + 60 * 60_000) });
    expect(later.stuck.map((s) => s.workflowId)).not.toContain(workflowId);
    expect(await stuckAlerts(job.id)).toHaveLength(1);
    await handle.terminate('test done');
  });

  it('runs as a periodic job of the workers and alerts on a run pending too long', async () => {
    // A product whose file never arrives: the run waits in pending_* on its storage check.
    const sku = `ebook-never-uploaded-${randomBytes(4).toString('hex')}`;
    await upsertProducts(stack.db, [
      {
        sku,
        slug: sku,
        title: 'Never Uploaded',
        version: 'v1',
        formats: ['pdf'],
        stripe_price_id: null,
      },
    ]);
    const { paymentIntentId, handle } = await startPurchase([sku]);
    const workflowId = fulfillmentWorkflowId(paymentIntentId);
    await waitFor('visibility shows the run pending', async () => {
      const status = (await handle.describe()).typedSearchAttributes.get(
        searchAttributes.fulfillmentStatus,
      );
      return status !== undefined && status.startsWith('pending_');
    });
    // Two replicas, a one-second interval and no threshold: the scan runs by itself, once.
    const job = stuckScanJob(
      {
        ...stack.config,
        STUCK_THRESHOLD_MINUTES: 0,
        FAILURE_RATE_THRESHOLD: 1_000_000,
        ...alertConfig(),
      },
      stack.db,
      stack.temporal,
      { everySeconds: 1, taskQueue },
    );
    const quiet = () => undefined;
    const replicas = [
      startPeriodicJobs(stack.db, [job], { holder: 'replica-a', log: quiet }),
      startPeriodicJobs(stack.db, [job], { holder: 'replica-b', log: quiet }),
    ];
    try {
      await waitFor('the periodic scan alerted', async () => {
        const row = await stack.db
          .selectFrom('alerts')
          .select('alert_key')
          .where('kind', '=', 'fulfillment.stuck')
          .where('alert_key', 'like', `stuck:${workflowId}:%`)
          .executeTakeFirst();
        return Boolean(row);
      });
    } finally {
      await Promise.all(replicas.map((replica) => replica.stop()));
      await handle.terminate('test done');
    }
    const posted = await postedAbout(workflowId, 2);
    expect(posted.map((r) => r.path).sort()).toEqual(['/hook', '/slack']);
  });

  it('raises one failure-rate alert per hour when more than three jobs fail within the hour', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const { paymentIntentId } = await startPurchase(['no-such-sku-for-failure-rate']);
      keys.push(paymentIntentId);
    }
    await waitFor(
      'four jobs need attention',
      async () => {
        const rows = await stack.db
          .selectFrom('fulfillment_jobs')
          .innerJoin('orders', 'orders.id', 'fulfillment_jobs.order_id')
          .select('fulfillment_jobs.status')
          .where('orders.purchase_key', 'in', keys)
          .where('fulfillment_jobs.status', '=', 'needs_attention')
          .execute();
        return rows.length === 4;
      },
      { timeoutMs: 30_000 },
    );
    const now = new Date();
    const first = await scan({ asOf: now, failureThreshold: 3 });
    const second = await scan({ asOf: now, failureThreshold: 3 });
    expect(first.failuresLastHour).toBe(4);
    const hour = now.toISOString().slice(0, 13);
    const rows = await stack.db
      .selectFrom('alerts')
      .select(['kind', 'severity', 'summary'])
      .where('alert_key', '=', `failure-rate:${hour}`)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'fulfillment.failure_rate', severity: 'critical' });
    expect(first.failureRateAlerted).toBe(true);
    expect(second.failureRateAlerted).toBe(false);
    const failureRateHooks = () =>
      receiver.received.filter(
        (r) => r.path === '/hook' && r.body['kind'] === 'fulfillment.failure_rate',
      );
    await waitFor('the failure-rate alert delivered', async () => failureRateHooks().length > 0);
    await alertRelay.deliverDue();
    expect(failureRateHooks()).toHaveLength(1);

    // Two hours on, none of these failures is within the hour: no alert for that hour.
    const quiet = new Date(now.getTime() + 2 * 3_600_000);
    const third = await scan({ asOf: quiet, failureThreshold: 3 });
    expect(third.failuresLastHour).toBe(0);
    expect(third.failureRateAlerted).toBe(false);
  });

  it('creates the reconciliation schedule, updates it in place and deletes the old stuck-scan schedule', async () => {
    const options = {
      reconcileAutoHeal: false,
      reconcileCron: '0 2 * * *',
      taskQueue,
    };
    // A deployment from before: the every-minute ops-stuck-scan schedule exists.
    const obsolete = 'ops-stuck-scan';
    expect(OBSOLETE_SCHEDULE_IDS).toContain(obsolete);
    await stack.temporal.schedule.create({
      scheduleId: obsolete,
      spec: { intervals: [{ every: '1 hour' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'opsStuckScanWorkflow',
        workflowId: 'ops-stuck-scan',
        taskQueue,
        args: [{}],
      },
    });
    await ensureOperationsSchedules(stack.temporal, options);
    await ensureOperationsSchedules(stack.temporal, { ...options, reconcileAutoHeal: true });
    try {
      await expect(stack.temporal.schedule.getHandle(obsolete).describe()).rejects.toThrow(
        ScheduleNotFoundError,
      );
      const reconcile = await stack.temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
      expect(reconcile.policies).toMatchObject({
        overlap: 'BUFFER_ALL',
        catchupWindow: 7 * 86_400_000,
      });
      expect(reconcile.action).toMatchObject({
        workflowType: 'reconciliationWorkflow',
        args: [{ heal: true, actor: 'schedule' }],
      });

      // The schedule really runs its workflow: trigger it now.
      const startedAt = new Date();
      await stack.temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).trigger();
      // The daily run reconciles the UTC day before its scheduled time, healing as configured.
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      await waitFor('the scheduled reconciliation stored its run', async () => {
        const row = await stack.db
          .selectFrom('reconciliation_runs')
          .select('id')
          .where('actor', '=', 'schedule')
          .where('window_start', '=', new Date(`${yesterday}T00:00:00Z`))
          .where('heal', '=', true)
          .where('started_at', '>=', new Date(startedAt.getTime() - 1000))
          .executeTakeFirst();
        return Boolean(row);
      });
    } finally {
      await stack.temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
    }
  });
});
