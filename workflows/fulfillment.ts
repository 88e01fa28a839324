import {
  ApplicationFailure,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
  fulfillmentStatusQuery,
  PERMANENT_FAILURE_TYPES,
  searchAttributes,
  type FulfillmentInput,
  type FulfillmentResult,
  type FulfillmentState,
  type FulfillmentStatus,
} from './contracts.ts';

/** Steps that read and write a few Postgres rows in one transaction. */
const databaseSteps = proxyActivities<Activities>({
  // A transaction over a handful of rows takes milliseconds; 30 s still covers a lock wait or
  // a database failover without leaving a hung connection unnoticed for long.
  startToCloseTimeout: '30 seconds',
  retry: {
    // Start fast: most database errors are a dropped connection that the next try survives.
    initialInterval: '1 second',
    backoffCoefficient: 2,
    // Capped at a minute so a recovered database is used within a minute of coming back.
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [...PERMANENT_FAILURE_TYPES],
  },
});

/** The delivery email: a provider call that may be slow, rate-limited or down for a while. */
const emailSteps = proxyActivities<Activities>({
  // Providers answer in well under a second; a minute allows for slow TLS and a retry inside
  // the driver while still failing a hung request quickly.
  startToCloseTimeout: '1 minute',
  retry: {
    // 5 s leaves room for a 429's Retry-After before the next attempt.
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    // Never wait more than 5 minutes between attempts during a provider outage.
    maximumInterval: '5 minutes',
  },
});

/**
 * Turns one successful payment into a customer's entitlements and receipt. The workflow id is
 * the payment intent (`fulfillment-<pi>`); every step is an idempotent activity, so a retried
 * or replayed run converges on the same rows.
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
    if (state.steps.at(-1)?.status === status) return;
    state.status = status;
    state.steps.push({ status, at: new Date().toISOString() });
    upsertSearchAttributes([{ key: searchAttributes.fulfillmentStatus, value: status }]);
  };

  try {
    const recorded = await databaseSteps.recordPurchase(input);
    state.jobId = recorded.jobId;
    state.orderId = recorded.orderId;
    setStatus(recorded.status);
    const step = { jobId: recorded.jobId, orderId: recorded.orderId };

    setStatus(await databaseSteps.activateEntitlements(step));
    await emailSteps.sendDeliveryEmail(step);
    setStatus(await databaseSteps.completeJob(step));
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
