import {
  ApplicationFailure,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { databaseStep, emailStep } from './activity-options.ts';
import {
  fulfillmentStatusQuery,
  searchAttributes,
  type FulfillmentInput,
  type FulfillmentResult,
  type FulfillmentState,
  type FulfillmentStatus,
} from './contracts.ts';

const database = proxyActivities<Activities>(databaseStep);
const email = proxyActivities<Activities>(emailStep);

/**
 * Turns one successful payment into a customer's entitlements and receipt. The workflow id is
 * the purchase (`fulfillment-<payment intent or checkout session>`); every step is an
 * idempotent activity, so a retried or replayed run converges on the same rows. A refund or
 * lost dispute that got there first ends the run `revoked` with a cancellation email instead.
 */
export async function fulfillmentWorkflow(input: FulfillmentInput): Promise<FulfillmentResult> {
  const state: FulfillmentState = {
    status: 'pending_entitlement',
    jobId: null,
    orderId: null,
    steps: [],
  };
  setHandler(fulfillmentStatusQuery, () => state);

  const setStatus = (status: FulfillmentStatus): void => {
    if (state.status === status && state.steps.length > 0) return;
    state.status = status;
    state.steps.push({ status, at: new Date().toISOString() });
    upsertSearchAttributes([{ key: searchAttributes.fulfillmentStatus, value: status }]);
  };

  try {
    const recorded = await database.recordPurchase(input);
    state.jobId = recorded.jobId;
    state.orderId = recorded.orderId;
    upsertSearchAttributes([
      { key: searchAttributes.customerEmail, value: recorded.customerEmail },
    ]);
    setStatus(recorded.status);
    const step = { jobId: recorded.jobId, orderId: recorded.orderId };

    const activated = await database.activateEntitlements(step);
    setStatus(activated.status);
    if (activated.entitlementStatus === 'revoked') {
      await email.sendOrderEmail({ orderId: recorded.orderId, kind: 'cancellation' });
      return { status: 'revoked', jobId: recorded.jobId, orderId: recorded.orderId };
    }
    await email.sendOrderEmail({ orderId: recorded.orderId, kind: 'delivery' });
    setStatus(await database.completeJob(step));
    return { status: state.status, jobId: recorded.jobId, orderId: recorded.orderId };
  } catch (error) {
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) {
      log.error('fulfillment needs attention', {
        workflowId: workflowInfo().workflowId,
        type: cause.type,
        message: cause.message,
      });
      setStatus('needs_attention');
    }
    throw error;
  }
}
