import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import * as options from './activity-options.ts';
import {
  ASSET_MISSING,
  claimedSignal,
  fulfillmentStatusQuery,
  revokedSignal,
  searchAttributes,
  type FulfillmentInput,
  type FulfillmentResult,
  type FulfillmentState,
  type FulfillmentStatus,
  type JobStep,
  type OrderEmailKind,
} from './contracts.ts';

const database = proxyActivities<Activities>(options.databaseStep);
const databasePatient = proxyActivities<Activities>(options.databaseStepPatient);
const email = proxyActivities<Activities>(options.emailStep);
const emailPatient = proxyActivities<Activities>(options.emailStepPatient);
const storage = proxyActivities<Activities>(options.storageStep);
const storagePatient = proxyActivities<Activities>(options.storageStepPatient);

/** A failure retrying cannot fix: a non-retryable type, or the asset window running out. */
function permanentCause(error: unknown): { type: string; message: string } | null {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const nonRetryable =
    (cause instanceof ApplicationFailure && cause.nonRetryable) ||
    (error instanceof ActivityFailure && error.retryState === 'NON_RETRYABLE_FAILURE');
  if (nonRetryable) {
    const type =
      cause instanceof ApplicationFailure && cause.type ? cause.type : 'ApplicationFailure';
    return { type, message: messageOf(error) };
  }
  // The patient storage step ran out of its schedule-to-close window (the asset retry window).
  if (
    error instanceof ActivityFailure &&
    (error.retryState === 'TIMEOUT' || cause instanceof TimeoutFailure)
  ) {
    return {
      type: ASSET_MISSING,
      message: `asset still missing after its retry window: ${messageOf(error)}`,
    };
  }
  return null;
}

const messageOf = (error: unknown): string =>
  error instanceof ActivityFailure && error.cause ? error.cause.message : String(error);

/**
 * Turns one successful payment into a customer's entitlements and receipt, then reminds the
 * buyer until they download and claim. The workflow id is the purchase
 * (`fulfillment-<payment intent or checkout session>`); every step is an idempotent
 * activity, so a retried or replayed run converges on the same rows. A refund or lost
 * dispute that got there first ends the run `revoked` with a cancellation email instead.
 */
export async function fulfillmentWorkflow(input: FulfillmentInput): Promise<FulfillmentResult> {
  const state: FulfillmentState = {
    status: 'pending_storage',
    phase: 'fulfilling',
    jobId: null,
    orderId: null,
    steps: [],
  };
  let claimed = false;
  let revoked = false;
  setHandler(fulfillmentStatusQuery, () => state);
  setHandler(claimedSignal, () => {
    claimed = true;
  });
  setHandler(revokedSignal, () => {
    revoked = true;
  });

  const setStatus = (status: FulfillmentStatus): void => {
    if (state.status === status && state.steps.length > 0) return;
    state.status = status;
    state.steps.push({ status, at: new Date().toISOString() });
    upsertSearchAttributes([{ key: searchAttributes.fulfillmentStatus, value: status }]);
  };

  /**
   * Runs a step: quick attempts first; when they fail, the job shows `pending_retry` and the
   * step goes on with patient attempts until it succeeds or fails permanently.
   */
  async function step<T>(
    name: string,
    quick: () => Promise<T>,
    patient: () => Promise<T>,
    whenRetrying?: (error: string) => Promise<void>,
  ): Promise<T> {
    try {
      return await quick();
    } catch (error) {
      if (permanentCause(error)) throw error;
      const message = messageOf(error);
      // Before the job exists (the first step) only the search attribute can show it.
      if (state.jobId)
        setStatus(
          await databasePatient.markJobRetrying({ jobId: state.jobId, step: name, error: message }),
        );
      else setStatus('pending_retry');
      await whenRetrying?.(message);
      return patient();
    }
  }

  const sendEmail = (job: JobStep, kind: OrderEmailKind) =>
    step(
      `email:${kind}`,
      () => email.sendOrderEmail({ orderId: job.orderId, kind }),
      () => emailPatient.sendOrderEmail({ orderId: job.orderId, kind }),
      (error) => database.alertEmailFailing({ ...job, kind, error }),
    );

  let job: JobStep | null = null;
  let guest = false;
  try {
    const recorded = await step(
      'record_purchase',
      () => database.recordPurchase(input),
      () => databasePatient.recordPurchase(input),
    );
    job = { jobId: recorded.jobId, orderId: recorded.orderId };
    guest = recorded.guest;
    state.jobId = recorded.jobId;
    state.orderId = recorded.orderId;
    upsertSearchAttributes([
      { key: searchAttributes.customerEmail, value: recorded.customerEmail },
    ]);
    setStatus(recorded.status);
    if (recorded.unknownItems.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `unknown ${recorded.unknownItems.join(', ')}`,
        'UnknownSku',
      );
    }
    const current = job;
    if (recorded.status !== 'revoked') {
      setStatus(
        await step(
          'verify_assets',
          () => storage.verifyAssets(current),
          () => storagePatient.verifyAssets(current),
        ),
      );
    }
    const activated = await step(
      'activate_entitlements',
      () => database.activateEntitlements(current),
      () => databasePatient.activateEntitlements(current),
    );
    setStatus(activated.status);
    if (activated.entitlementStatus === 'revoked') {
      await sendEmail(current, 'cancellation');
      state.phase = 'done';
      return { status: 'revoked', jobId: current.jobId, orderId: current.orderId };
    }
    await sendEmail(current, 'delivery');
    await step(
      'analytics',
      () => database.emitAnalytics(current),
      () => databasePatient.emitAnalytics(current),
    );
    setStatus(
      await step(
        'complete',
        () => database.completeJob(current),
        () => databasePatient.completeJob(current),
      ),
    );
  } catch (error) {
    const permanent = permanentCause(error);
    if (permanent) {
      const workflowId = workflowInfo().workflowId;
      log.error('fulfillment needs attention', { workflowId, ...permanent });
      setStatus('needs_attention');
      await databasePatient.flagNeedsAttention({
        workflowId,
        jobId: job?.jobId ?? null,
        ...permanent,
      });
    }
    state.phase = 'done';
    throw error;
  }

  // The reminder phase: the job stays `completed` (it is not stuck) while these timers wait.
  // A claim cancels a guest's pending reminders; a revocation cancels everyone's.
  state.phase = 'reminding';
  const cancelled = () => revoked || (guest && claimed);
  if (!(await condition(cancelled, '24 hours'))) {
    await databasePatient.sendReminders({ orderId: job.orderId, milestone: '24h' });
    if (guest && !(await condition(cancelled, '6 days'))) {
      await databasePatient.sendReminders({ orderId: job.orderId, milestone: '7d' });
    }
  }
  if (revoked) setStatus('revoked');
  state.phase = 'done';
  return { status: state.status, jobId: job.jobId, orderId: job.orderId };
}
