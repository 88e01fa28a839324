/**
 * The one home for every workflow start, signal and query that code outside workflows/ makes:
 * which workflow type, which id (always from workflows/contracts.ts), which options and which
 * conflict policies. Callers name the business fact; nothing else spells a workflow type.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowStartOptions,
} from '@temporalio/client';
import {
  checkoutSessionSignal,
  claimedSignal,
  claimLinkWorkflowId,
  disputeEventSignal,
  fulfillmentStatusQuery,
  fulfillmentWorkflowId,
  operatorRevocationWorkflowId,
  productRevocationWorkflowId,
  resendWorkflowId,
  revokedSignal,
  rewardRevocationWorkflowId,
  searchAttributes,
  WORKFLOW_TYPES,
  type FulfillmentInput,
  type FulfillmentState,
  type PaymentAdjustmentInput,
  type ResendInput,
  type ClaimLinkInput,
  type RewardRevocationInput,
} from '../workflows/contracts.ts';
import { taskQueueOf, withinTimeout } from './client.ts';

/** How long one call waits for Temporal before the caller leaves the work to a retry. */
const TEMPORAL_CALL_DEADLINE_MS = 5_000;

/**
 * What a fulfillment starts with, written once for the gateway, the rewards route, an
 * operator's retry and reconciliation: the status and keys a platform engineer filters on are
 * set at start, so the Temporal UI finds the run before its first step.
 */
export function fulfillmentStartOptions(
  taskQueue: string,
  input: FulfillmentInput,
  policies: Pick<WorkflowStartOptions, 'workflowIdConflictPolicy' | 'workflowIdReusePolicy'> = {
    workflowIdConflictPolicy: 'USE_EXISTING',
    // A completed fulfillment is never repeated; a failed or terminated one may be.
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
  },
) {
  return {
    taskQueue,
    workflowId: fulfillmentWorkflowId(input.purchaseKey),
    args: [input] as [FulfillmentInput],
    ...policies,
    typedSearchAttributes: [
      { key: searchAttributes.fulfillmentStatus, value: 'pending_storage' },
      { key: searchAttributes.orderSource, value: input.source },
      ...(input.paymentIntentId
        ? [{ key: searchAttributes.paymentIntentId, value: input.paymentIntentId }]
        : []),
    ],
  };
}

/**
 * Starts `fulfillment-<purchase key>`: an open run is reused and "already started" for a closed
 * one is success. Returns the workflow id.
 */
export async function startFulfillment(temporal: Client, input: FulfillmentInput): Promise<string> {
  const options = fulfillmentStartOptions(taskQueueOf(temporal), input);
  await withinCallDeadline(temporal, () =>
    temporal.workflow.start(WORKFLOW_TYPES.fulfillment, options),
  );
  return options.workflowId;
}

/**
 * Starts a fulfillment run even where the id's last run completed (reconciliation's re-drive):
 * a run open only for its reminders is replaced when `replaceOpenRun` is set. Returns the new
 * run's id.
 */
export async function restartFulfillment(
  temporal: Client,
  input: FulfillmentInput,
  { replaceOpenRun }: { replaceOpenRun: boolean },
): Promise<string> {
  const handle = await temporal.workflow.start(
    WORKFLOW_TYPES.fulfillment,
    fulfillmentStartOptions(taskQueueOf(temporal), input, {
      workflowIdConflictPolicy: replaceOpenRun ? 'TERMINATE_EXISTING' : 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    }),
  );
  return handle.firstExecutionRunId;
}

/**
 * Hands a Checkout Session's event to `fulfillment-<payment intent>` by signal-with-start: an
 * open run (a payment intent's, waiting for it) receives it; without one, a run starts with
 * the session as its input. Returns false when the purchase's run has closed (completed runs
 * are not started again): the event is then a duplicate.
 */
export async function signalCheckoutSession(
  temporal: Client,
  input: FulfillmentInput,
): Promise<boolean> {
  if (input.source !== 'stripe') throw new Error('a checkout session is a Stripe purchase');
  const options = fulfillmentStartOptions(taskQueueOf(temporal), input);
  let delivered = true;
  const deadline = new Date(Date.now() + TEMPORAL_CALL_DEADLINE_MS);
  const attempt = temporal.connection.withDeadline(deadline, async () => {
    try {
      await temporal.workflow.signalWithStart(WORKFLOW_TYPES.fulfillment, {
        ...options,
        signal: checkoutSessionSignal,
        signalArgs: [{ stripeEventId: input.stripeEventId }],
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      delivered = false;
    }
  });
  await withinTimeout(attempt, TEMPORAL_CALL_DEADLINE_MS, 'Temporal');
  return delivered;
}

/**
 * Starts the refund's workflow for one `charge.refunded` event, with the purchase's
 * `PaymentIntentId` set at start (free: no extra action), so `PaymentIntentId="pi_…"` lists it.
 */
export async function startRefund(
  temporal: Client,
  workflowId: string,
  input: PaymentAdjustmentInput,
  paymentIntentId: string,
): Promise<void> {
  await withinCallDeadline(temporal, () =>
    startOnce(temporal, WORKFLOW_TYPES.refund, workflowId, input, paymentIntentId),
  );
}

/**
 * Hands a dispute event to `dispute-<dispute id>`: created and closed events of one dispute meet
 * in one run; a closed run is started again, and applying an event twice changes nothing.
 */
export async function signalDisputeEvent(
  temporal: Client,
  workflowId: string,
  input: PaymentAdjustmentInput,
  paymentIntentId: string,
): Promise<void> {
  await withinCallDeadline(temporal, () =>
    temporal.workflow.signalWithStart(WORKFLOW_TYPES.dispute, {
      taskQueue: taskQueueOf(temporal),
      workflowId,
      args: [],
      typedSearchAttributes: [{ key: searchAttributes.paymentIntentId, value: paymentIntentId }],
      signal: disputeEventSignal,
      signalArgs: [input],
    }),
  );
}

/** Starts `revoke-reward-<reward_id>` (idempotent like every start here). */
export async function startRewardRevocation(
  temporal: Client,
  input: RewardRevocationInput,
): Promise<string> {
  const workflowId = rewardRevocationWorkflowId(input.rewardId);
  await withinCallDeadline(temporal, () =>
    startOnce(temporal, WORKFLOW_TYPES.rewardRevocation, workflowId, input),
  );
  return workflowId;
}

/** Starts `resend-<order>-<n>` (the same n twice is one email). */
export async function startResend(temporal: Client, input: ResendInput): Promise<string> {
  const workflowId = resendWorkflowId(input.orderId, input.sequence);
  await withinCallDeadline(temporal, () =>
    startOnce(temporal, WORKFLOW_TYPES.resendLinks, workflowId, input),
  );
  return workflowId;
}

/** Starts `claim-link-<order>-<n>` (the same n twice is one email). */
export async function startClaimLink(temporal: Client, input: ClaimLinkInput): Promise<string> {
  const workflowId = claimLinkWorkflowId(input.orderId, input.sequence);
  await withinCallDeadline(temporal, () =>
    startOnce(temporal, WORKFLOW_TYPES.claimLink, workflowId, input),
  );
  return workflowId;
}

/** Starts the cancellation email of an order an operator revoked (once per order). */
export async function startOperatorRevocation(temporal: Client, orderId: string): Promise<string> {
  const workflowId = operatorRevocationWorkflowId(orderId);
  await withinCallDeadline(temporal, () =>
    startOnce(temporal, WORKFLOW_TYPES.operatorRevocation, workflowId, { orderId }),
  );
  return workflowId;
}

/**
 * Starts the cancellation email of one product an operator revoked (`revoke-product-<order>-<n>`,
 * the same workflow type as an order's): once per revocation.
 */
export async function startProductRevocation(
  temporal: Client,
  orderId: string,
  sequence: number,
): Promise<string> {
  const workflowId = productRevocationWorkflowId(orderId, sequence);
  await withinCallDeadline(temporal, () =>
    startOnce(temporal, WORKFLOW_TYPES.operatorRevocation, workflowId, { orderId, sequence }),
  );
  return workflowId;
}

/**
 * Tells a purchase's fulfillment that the buyer claimed their account, so its reminders stop.
 * Returns false when no run is open (a closed run has no reminders left).
 */
export function signalClaimed(temporal: Client, purchaseKey: string): Promise<boolean> {
  return signalIfOpen(temporal, fulfillmentWorkflowId(purchaseKey), claimedSignal);
}

/**
 * Tells a purchase's fulfillment that it was taken back, so every reminder stops. Returns false
 * when no run is open.
 */
export function signalRevoked(temporal: Client, purchaseKey: string): Promise<boolean> {
  return signalIfOpen(temporal, fulfillmentWorkflowId(purchaseKey), revokedSignal);
}

/** The fulfillment's own status, phase and steps (its `status` query). */
export async function queryFulfillmentState(
  temporal: Client,
  workflowId: string,
): Promise<FulfillmentState> {
  return temporal.workflow.getHandle(workflowId).query(fulfillmentStatusQuery);
}

/** The latest run's status name (`RUNNING`, `COMPLETED`, …), or `NONE` when Temporal has none. */
export async function describeWorkflowStatus(
  temporal: Client,
  workflowId: string,
): Promise<string> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'NONE';
    throw error;
  }
}

/**
 * The latest run of `workflowId`: its status name and when it started, or null when Temporal
 * has none. The gateway asks before it re-dispatches an event whose first attempt may have
 * started the run already.
 */
export async function describeLatestRun(
  temporal: Client,
  workflowId: string,
): Promise<{ status: string; startTime: Date } | null> {
  try {
    const deadline = new Date(Date.now() + TEMPORAL_CALL_DEADLINE_MS);
    const description = await withinTimeout(
      temporal.connection.withDeadline(deadline, () =>
        temporal.workflow.getHandle(workflowId).describe(),
      ),
      TEMPORAL_CALL_DEADLINE_MS,
      'Temporal',
    );
    return { status: description.status.name, startTime: description.startTime };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** Ends a running workflow for an operator, with who and why in Temporal's history. */
export async function terminateWorkflow(
  temporal: Client,
  workflowId: string,
  reason: string,
): Promise<void> {
  await temporal.workflow.getHandle(workflowId).terminate(reason);
}

async function signalIfOpen(
  temporal: Client,
  workflowId: string,
  signal: typeof claimedSignal | typeof revokedSignal,
): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(workflowId).signal(signal);
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

/**
 * Starts a one-shot workflow by business id: an open run is reused, a completed one is not
 * repeated, and a failed or terminated one may be started again.
 */
function startOnce(
  temporal: Client,
  workflowType: string,
  workflowId: string,
  input: unknown,
  paymentIntentId?: string,
) {
  return temporal.workflow.start(workflowType, {
    taskQueue: taskQueueOf(temporal),
    workflowId,
    args: [input],
    ...(paymentIntentId
      ? {
          typedSearchAttributes: [
            { key: searchAttributes.paymentIntentId, value: paymentIntentId },
          ],
        }
      : {}),
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
  });
}

/**
 * Runs a call within the deadline; "already started" for a closed run is success. A gRPC
 * deadline does not bound a lazy client's first connection attempt, so the call is also raced
 * against a timer (a start that lands later is harmless: starts are idempotent).
 */
async function withinCallDeadline(temporal: Client, call: () => Promise<unknown>): Promise<void> {
  const deadline = new Date(Date.now() + TEMPORAL_CALL_DEADLINE_MS);
  const attempt = temporal.connection.withDeadline(deadline, async () => {
    try {
      await call();
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  });
  await withinTimeout(attempt, TEMPORAL_CALL_DEADLINE_MS, 'Temporal');
}
