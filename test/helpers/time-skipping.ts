import { randomBytes } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createActivities, type ActivityDeps } from '../../activities/index.ts';
import type { Db } from '../../db/database.ts';
import { recordWebhookEvent } from '../../db/queries/webhook-events.ts';
import { createActivityDeps } from '../../scripts/lib/services.ts';
import { installTemporalRuntime } from '../../temporal/runtime.ts';
import {
  fulfillmentWorkflowId,
  refundWorkflowId,
  SEARCH_ATTRIBUTE_REGISTRATIONS,
  type FulfillmentInput,
} from '../../workflows/contracts.ts';
import type { fulfillmentWorkflow } from '../../workflows/fulfillment.ts';
import { testConfig } from './stack.ts';

/** The time-skipping test server (through the resolver), for the timer paths. */
export async function startTimeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: inject('timeSkippingServerPath') } },
  });
  // The test server rejects search attributes it does not know; register the project's own.
  const keyword = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTE_REGISTRATIONS.map(({ name }) => [name, keyword]),
    ),
  });
  return env;
}

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
    activities: createActivities({ ...createActivityDeps(testConfig(), db), ...overrides }),
  });
  return { worker, taskQueue };
}

/** Records a Stripe event in the inbox (as the gateway would) and returns its id. */
export async function recordStripeEvent(
  db: Db,
  event: { id: string; type: string; created: number; data: { object: unknown } },
): Promise<string> {
  await recordWebhookEvent(db, {
    provider: 'stripe',
    event_id: event.id,
    type: event.type,
    api_version: null,
    livemode: false,
    event_created_at: new Date(event.created * 1000),
    payload: JSON.stringify(event),
    dispatched_at: null,
    processed_at: null,
    result: null,
    error: null,
    workflow_id: null,
  });
  return event.id;
}

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
