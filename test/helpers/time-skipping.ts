import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import { createActivities, type ActivityDeps } from '../../activities/index.ts';
import type { Db } from '../../db/database.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { startTimeSkippingServer } from '../../stack/time-skipping.ts';
import { payloadDataConverter } from '../../temporal/data-converter.ts';
import { tracingWorkerOptions } from '../../worker/tracing.ts';
import {
  fulfillmentWorkflowId,
  refundWorkflowId,
  type FulfillmentInput,
} from '../../workflows/contracts.ts';
import type { fulfillmentWorkflow } from '../../workflows/fulfillment.ts';
import { testConfig } from './stack.ts';

/** The time-skipping test server (through the resolver), for the timer paths. */
export function startTimeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  return startTimeSkippingServer(inject('timeSkippingServerPath'), testDataConverter());
}

/** The suite's payload encryption, as the worker and the api use it. */
const testDataConverter = () => payloadDataConverter(testConfig().PAYLOAD_ENCRYPTION_KEYS);

/** A worker on the environment with the real activities; `deps` may inject failures. */
export async function createTimeSkippingWorker(
  env: TestWorkflowEnvironment,
  db: Db,
  overrides: Partial<ActivityDeps> = {},
): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = `fulfillment-test-${randomBytes(4).toString('hex')}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    dataConverter: testDataConverter(),
    activities: createActivities({ ...createActivityDeps(testConfig(), db), ...overrides }),
    ...tracingWorkerOptions(),
  });
  return { worker, taskQueue };
}

export { recordStripeEvent } from '../../stack/stripe-events.ts';

/** Starts the fulfillment of a recorded `payment_intent.succeeded` on the test server. */
export async function startFulfillmentOn(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  paymentIntentId: string,
  stripeEventId: string,
) {
  const input: FulfillmentInput = {
    source: 'stripe',
    purchaseKey: paymentIntentId,
    paymentIntentId,
    stripeEventId,
  };
  return env.client.workflow.start<typeof fulfillmentWorkflow>('fulfillmentWorkflow', {
    taskQueue,
    workflowId: fulfillmentWorkflowId(paymentIntentId),
    args: [input],
  });
}

export async function startRefundOn(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  refundId: string,
  stripeEventId: string,
) {
  return env.client.workflow.start('refundWorkflow', {
    taskQueue,
    workflowId: refundWorkflowId(refundId),
    args: [{ stripeEventId }],
  });
}

/**
 * One time-skipping server and a database pool for a whole test file, torn down after it.
 * Read `env` and `db` inside tests (they are set in beforeAll).
 */
export function useTimeSkippingSuite(): { env: TestWorkflowEnvironment; db: Db } {
  const suite = {} as { env: TestWorkflowEnvironment; db: Db };
  beforeAll(async () => {
    suite.env = await startTimeSkippingEnvironment();
    suite.db = await connectDatabase({ kind: 'postgres', url: testConfig().DATABASE_URL! });
  });
  afterAll(async () => {
    await suite.db?.destroy();
    await suite.env?.teardown();
  });
  return suite;
}
