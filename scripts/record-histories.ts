// `npm run record-histories -- <label>`: runs representative fulfillments on the time-skipping
// test server against a throwaway database and writes their event histories to
// test/histories/<label>/ (a folder per workflow shape; it never overwrites a recorded file).
// The replay test (test/workflows/replay.test.ts) replays every history under test/histories/
// against the current workflow code, so a change that would break runs already in flight
// fails CI.
import { access, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { createLocalStorage } from '../drivers/storage/driver.ts';
import { loadConfig } from '../config/env.ts';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { workflowsPath } from '../worker/worker.ts';
import { tracingWorkerOptions, workflowInterceptorModules } from '../worker/tracing.ts';
import { fulfillmentStartOptions } from '../temporal/workflows.ts';
import {
  checkoutSessionSignal,
  claimedSignal,
  disputeEventSignal,
  disputeWorkflowId,
  fulfillmentStatusQuery,
  refundWorkflowId,
  type FulfillmentInput,
} from '../workflows/contracts.ts';
import { waitFor } from '../stack/processes.ts';
import { createActivityDeps } from './lib/worker-deps.ts';
import { seedDemoAssets } from '../stack/demo-data.ts';
import { startStripeCompanion } from '../stack/stripe-companion.ts';
import {
  buildCheckoutSessionCompletedEvent,
  buildChargeRefundedEvent,
  buildDisputeEvent,
  buildPaymentIntentSucceededEvent,
  recordStripeEvent,
  stripeTestId,
} from '../stack/stripe-events.ts';
import { createThrowawayDatabase } from '../stack/throwaway-database.ts';
import { startTimeSkippingServer } from '../stack/time-skipping.ts';

const label = process.argv[2];
if (!label || !/^[a-z0-9][a-z0-9-]*$/.test(label)) {
  console.error(
    'usage: npm run record-histories -- <label>   (e.g. lean: writes test/histories/lean/)',
  );
  process.exit(2);
}
const HISTORIES_DIR = path.resolve(import.meta.dirname, '../test/histories', label);
const TASK_QUEUE = 'record-histories';

interface Context {
  env: TestWorkflowEnvironment;
  db: Db;
}

async function startPurchase({ env, db }: Context, options: { userId?: string } = {}) {
  const paymentIntentId = stripeTestId('pi');
  const event = buildPaymentIntentSucceededEvent({
    paymentIntentId,
    skus: ['ebook-durable-execution', 'course-webhooks-workbook'],
    // A buyer of its own: a guest sharing the known account's email would be that account.
    email: `recorded-buyer-${paymentIntentId.slice(-8)}@example.com`,
    ...options,
  });
  await recordStripeEvent(db, event);
  const input: FulfillmentInput = {
    source: 'stripe',
    purchaseKey: paymentIntentId,
    paymentIntentId,
    stripeEventId: event.id,
  };
  // As the gateway starts it: the status and keys set at start.
  const handle = await env.client.workflow.start('fulfillmentWorkflow', {
    ...fulfillmentStartOptions(TASK_QUEUE, input),
  });
  return { paymentIntentId, handle };
}

/** A payment intent Checkout created (no SKUs): its run waits for the session's event. */
async function startCheckoutPaymentIntent({ env, db }: Context) {
  const paymentIntentId = stripeTestId('pi');
  const event = buildPaymentIntentSucceededEvent({
    paymentIntentId,
    skus: [],
    email: `recorded-checkout-${paymentIntentId.slice(-8)}@example.com`,
  });
  await recordStripeEvent(db, event);
  const input: FulfillmentInput = {
    source: 'stripe',
    purchaseKey: paymentIntentId,
    paymentIntentId,
    stripeEventId: event.id,
    awaitCheckoutSession: true,
  };
  const handle = await env.client.workflow.start('fulfillmentWorkflow', {
    ...fulfillmentStartOptions(TASK_QUEUE, input),
  });
  return { paymentIntentId, handle };
}

async function reminding(handle: WorkflowHandle): Promise<void> {
  await waitFor(
    'reminder phase',
    async () => (await handle.query(fulfillmentStatusQuery)).phase === 'reminding',
  );
}

/** Each scenario returns the runs whose histories are kept, by file name. */
const scenarios: Record<string, (context: Context) => Promise<Record<string, WorkflowHandle>>> = {
  async 'guest-never-claims'(context) {
    const { handle } = await startPurchase(context);
    await handle.result();
    return { 'fulfillment-guest-never-claims': handle };
  },
  async 'known-account'(context) {
    const { handle } = await startPurchase(context, { userId: 'auth0|recorded' });
    await handle.result();
    return { 'fulfillment-known-account': handle };
  },
  async 'guest-claims'(context) {
    const { handle } = await startPurchase(context);
    await reminding(handle);
    await handle.signal(claimedSignal);
    await handle.result();
    return { 'fulfillment-guest-claims': handle };
  },
  async 'refund-during-reminders'(context) {
    const { paymentIntentId, handle } = await startPurchase(context);
    await reminding(handle);
    const refundId = stripeTestId('re');
    const refund = buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 2900 });
    await recordStripeEvent(context.db, refund);
    const refundHandle = await context.env.client.workflow.start('refundWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: refundWorkflowId(refundId),
      args: [{ stripeEventId: refund.id }],
    });
    await refundHandle.result();
    await handle.result();
    return { 'fulfillment-refunded-while-reminding': handle, 'refund-full': refundHandle };
  },
  async 'refund-after-close'(context) {
    const { paymentIntentId, handle } = await startPurchase(context);
    await reminding(handle);
    await handle.signal(claimedSignal);
    await handle.result();
    const refundId = stripeTestId('re');
    const refund = buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 2900 });
    await recordStripeEvent(context.db, refund);
    const refundHandle = await context.env.client.workflow.start('refundWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: refundWorkflowId(refundId),
      args: [{ stripeEventId: refund.id }],
    });
    await refundHandle.result();
    return { 'refund-after-close': refundHandle };
  },
  async 'checkout-payment-intent-first'(context) {
    const { paymentIntentId, handle } = await startCheckoutPaymentIntent(context);
    const session = buildCheckoutSessionCompletedEvent({
      paymentIntentId,
      skus: ['ebook-durable-execution'],
      email: `recorded-checkout-${paymentIntentId.slice(-8)}@example.com`,
    });
    await recordStripeEvent(context.db, session);
    // As the gateway hands it over: signal-with-start into the waiting run.
    await context.env.client.workflow.signalWithStart('fulfillmentWorkflow', {
      ...fulfillmentStartOptions(TASK_QUEUE, {
        source: 'stripe',
        purchaseKey: paymentIntentId,
        paymentIntentId,
        stripeEventId: session.id,
      }),
      signal: checkoutSessionSignal,
      signalArgs: [{ stripeEventId: session.id }],
    });
    await handle.result();
    return { 'fulfillment-checkout-payment-intent-first': handle };
  },
  async 'checkout-session-never-comes'(context) {
    // No session event within the wait: the run looks the session up, Stripe has none, and the
    // job needs attention (the run fails, so a replay can start it again).
    const { handle } = await startCheckoutPaymentIntent(context);
    await handle.result().catch(() => undefined);
    return { 'fulfillment-checkout-session-never-comes': handle };
  },
  async 'dispute-won'(context) {
    const { paymentIntentId, handle } = await startPurchase(context, { userId: 'auth0|disputed' });
    await reminding(handle);
    const disputeId = stripeTestId('dp');
    let disputeHandle: WorkflowHandle | null = null;
    for (const status of ['needs_response', 'won'] as const) {
      const event = buildDisputeEvent({ paymentIntentId, disputeId, status });
      await recordStripeEvent(context.db, event);
      disputeHandle = await context.env.client.workflow.signalWithStart('disputeWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: disputeWorkflowId(disputeId),
        args: [],
        signal: disputeEventSignal,
        signalArgs: [{ stripeEventId: event.id }],
      });
    }
    await disputeHandle!.result();
    await handle.result();
    return { 'dispute-created-then-won': disputeHandle! };
  },
};

const database = await createThrowawayDatabase('fulfillment_histories');
const storageDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-histories-storage-'));
const env = await startTimeSkippingServer();
// Stripe's API for the lookups a run makes (it holds no Checkout Session: none is found).
const stripeEmulator = await startStripeCompanion();
const db = await connectDatabase({ kind: 'postgres', url: database.url });
try {
  const config = loadConfig({
    DATABASE_URL: database.url,
    STORAGE_LOCAL_DIR: storageDir,
    STRIPE_SECRET_KEY: 'sk_test_histories',
    STRIPE_WEBHOOK_SECRETS: 'whsec_histories',
    STRIPE_API_URL: stripeEmulator.url,
  });
  await seedDemoAssets(createLocalStorage(storageDir));
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules }),
    activities: createActivities(createActivityDeps(config, db)),
    ...tracingWorkerOptions(),
  });
  await mkdir(HISTORIES_DIR, { recursive: true });
  const exists = (file: string) =>
    access(file).then(
      () => true,
      () => false,
    );
  await worker.runUntil(async () => {
    for (const [name, scenario] of Object.entries(scenarios)) {
      const handles = await scenario({ env, db });
      for (const [file, handle] of Object.entries(handles)) {
        const history = await handle.fetchHistory();
        const target = path.join(HISTORIES_DIR, `${file}.json`);
        // A recorded history is evidence of runs in flight: never re-record one to make a
        // failing replay pass.
        if (await exists(target)) throw new Error(`${target} exists; choose a new label`);
        await writeFile(target, `${historyToJSON(history)}\n`);
        console.log(
          `${name}: wrote test/histories/${label}/${file}.json (${history.events?.length ?? 0} events)`,
        );
      }
    }
  });
} finally {
  await db.destroy();
  await env.teardown();
  await stripeEmulator.close();
  await database.drop();
  await rm(storageDir, { recursive: true, force: true });
}
