import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import type { EmailDriver } from '../../drivers/email/driver.ts';
import type { OperationsScanSummary } from '../../activities/operations.ts';
import { waitFor } from '../../stack/processes.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { tracingWorkerOptions } from '../../worker/tracing.ts';
import {
  buildPaymentIntentSucceededEvent,
  recordStripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import {
  STUCK_SCAN_SCHEDULE_ID,
  RECONCILE_SCHEDULE_ID,
  ensureOperationsSchedules,
} from '../../temporal/schedules.ts';
import {
  fulfillmentStatusQuery,
  fulfillmentWorkflowId,
  searchAttributes,
  type FulfillmentInput,
} from '../../workflows/contracts.ts';
import type { OperationsScanWorkflowInput } from '../../workflows/contracts.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

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

let stack: TestStack;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
let connection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
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
  stack = await startTestStack();
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
      alerts: { slackWebhookUrl: `${receiver.url}/slack`, webhookUrl: `${receiver.url}/hook` },
    }),
    ...tracingWorkerOptions(),
  });
  workerRun = worker.run();
});
afterAll(async () => {
  releaseEmail();
  worker?.shutdown();
  await workerRun;
  await connection?.close();
  await stack?.close();
  await receiver?.close();
});

/** One scan, as the schedule runs it, with the clock at `asOf`. */
function scan(input: OperationsScanWorkflowInput): Promise<OperationsScanSummary> {
  return stack.temporal.workflow.execute('opsStuckScanWorkflow', {
    taskQueue,
    workflowId: `ops-stuck-scan-test-${randomBytes(6).toString('hex')}`,
    args: [{ thresholdMinutes: 5, failureThreshold: 1_000_000, ...input }],
  });
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
    const paymentIntentId = stripeTestId('pi');
    const event = buildPaymentIntentSucceededEvent({
      paymentIntentId,
      skus: ['ebook-durable-execution'],
      email: `stuck-${Date.now()}@example.com`,
    });
    await recordStripeEvent(stack.db, event);
    const workflowId = fulfillmentWorkflowId(paymentIntentId);
    const input: FulfillmentInput = {
      source: 'stripe',
      purchaseKey: paymentIntentId,
      paymentIntentId,
      stripeEventId: event.id,
    };
    const handle = await stack.temporal.workflow.start('fulfillmentWorkflow', {
      taskQueue,
      workflowId,
      args: [input],
      typedSearchAttributes: [
        { key: searchAttributes.fulfillmentStatus, value: 'pending_storage' },
        { key: searchAttributes.paymentIntentId, value: paymentIntentId },
      ],
    });

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

    // The schedule's every-minute scan, minute by minute on a driven clock.
    const alertedAt: number[] = [];
    for (let minute = 0; minute <= 8; minute += 1) {
      const asOf = new Date(job.created_at.getTime() + minute * 60_000 + 1_000);
      const result = await scan({ asOf: asOf.toISOString() });
      if (result.alerted.includes(workflowId)) alertedAt.push(minute);
    }
    expect(alertedAt).toEqual([5]);
    const rows = await stuckAlerts(job.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'fulfillment.stuck', severity: 'warning' });
    expect(rows[0]!.summary).toContain(`${workflowId} has been pending_email for 5 minutes`);
    const posted = receiver.received.filter((r) => JSON.stringify(r.body).includes(workflowId));
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
    const later = await scan({
      asOf: new Date(Date.now() + 60 * 60_000).toISOString(),
    });
    expect(later.stuck.map((s) => s.workflowId)).not.toContain(workflowId);
    expect(await stuckAlerts(job.id)).toHaveLength(1);
    await handle.terminate('test done');
  });

  it('raises one failure-rate alert per hour when more than three jobs fail within the hour', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const paymentIntentId = stripeTestId('pi');
      keys.push(paymentIntentId);
      const response = await postSignedEvent(
        stack.app,
        paymentSucceeded({ paymentIntentId, skus: ['no-such-sku-for-failure-rate'] }),
        stack.webhookSecret,
      );
      expect(response.statusCode).toBe(200);
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
    const first = await scan({ asOf: now.toISOString(), failureThreshold: 3 });
    const second = await scan({ asOf: now.toISOString(), failureThreshold: 3 });
    expect(first.failuresLastHour).toBeGreaterThanOrEqual(4);
    const hour = now.toISOString().slice(0, 13);
    const rows = await stack.db
      .selectFrom('alerts')
      .select(['kind', 'severity', 'summary'])
      .where('alert_key', '=', `failure-rate:${hour}`)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'fulfillment.failure_rate', severity: 'critical' });
    expect(first.failureRateAlerted || second.failureRateAlerted).toBe(true);
    expect(second.failureRateAlerted).toBe(false);
    expect(
      receiver.received.filter(
        (r) => r.path === '/hook' && r.body['kind'] === 'fulfillment.failure_rate',
      ),
    ).toHaveLength(1);

    // Two hours on, none of these failures is within the hour: no alert for that hour.
    const quiet = new Date(now.getTime() + 2 * 3_600_000);
    const third = await scan({ asOf: quiet.toISOString(), failureThreshold: 3 });
    expect(third.failuresLastHour).toBe(0);
    expect(third.failureRateAlerted).toBe(false);
  });

  it('creates the schedules once and updates them in place on the next start', async () => {
    const options = {
      stuckThresholdMinutes: 5,
      failureRateThreshold: 3,
      reconcileAutoHeal: false,
      reconcileCron: '0 2 * * *',
      taskQueue,
    };
    await ensureOperationsSchedules(stack.temporal, options);
    await ensureOperationsSchedules(stack.temporal, { ...options, reconcileAutoHeal: true });
    try {
      const scanSchedule = await stack.temporal.schedule
        .getHandle(STUCK_SCAN_SCHEDULE_ID)
        .describe();
      expect(scanSchedule.spec.intervals).toMatchObject([{ every: 60_000 }]);
      expect(scanSchedule.action).toMatchObject({ workflowType: 'opsStuckScanWorkflow' });
      expect(scanSchedule.policies.overlap).toBe('SKIP');
      const reconcile = await stack.temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
      expect(reconcile.policies).toMatchObject({
        overlap: 'BUFFER_ALL',
        catchupWindow: 7 * 86_400_000,
      });
      expect(reconcile.action).toMatchObject({
        workflowType: 'reconciliationWorkflow',
        args: [{ heal: true, actor: 'schedule' }],
      });

      // Each schedule really runs its workflow: trigger both now.
      const startedAt = new Date();
      await stack.temporal.schedule.getHandle(STUCK_SCAN_SCHEDULE_ID).trigger();
      await stack.temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).trigger();
      let scanWorkflowId = '';
      await waitFor('the scan schedule started a run', async () => {
        const described = await stack.temporal.schedule
          .getHandle(STUCK_SCAN_SCHEDULE_ID)
          .describe();
        scanWorkflowId = described.info.recentActions.at(-1)?.action.workflow.workflowId ?? '';
        return scanWorkflowId !== '';
      });
      const scanned = (await stack.temporal.workflow
        .getHandle(scanWorkflowId)
        .result()) as OperationsScanSummary;
      expect(scanned).toMatchObject({ failureRateAlerted: false });
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
      await stack.temporal.schedule.getHandle(STUCK_SCAN_SCHEDULE_ID).delete();
      await stack.temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
    }
  });
});
