import {
  ApplicationFailure,
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import * as options from './activity-options.ts';
import { classifyPermanentFailure, failureMessage } from './failures.ts';
import {
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

/** Patch id: an attempt's start-to-close timeout no longer flags the job as asset-missing. */
const ATTEMPT_TIMEOUTS_ARE_RETRYABLE = 'attempt-timeouts-are-retryable';

/** A failure retrying cannot fix (see failures.ts); runs from before the patch replay as they ran. */
const permanentCause = (error: unknown) =>
  classifyPermanentFailure(error, () => patched(ATTEMPT_TIMEOUTS_ARE_RETRYABLE));

/**
 * The fulfillment as runs started before the lean shape (patch `lean-fulfillment`) execute it,
 * command for command: six activities, an upsert per status, reminders. Kept so those runs —
 * some asleep on their 7-day reminder — replay and finish as they began. Once no such run is
 * open (7 days after the deploy), `fulfillment.ts` switches to `deprecatePatch` and this file
 * goes.
 * @deprecated
 */
export async function fulfillmentBeforeLean(input: FulfillmentInput): Promise<FulfillmentResult> {
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
      const message = failureMessage(error);
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
      // Runs recorded before the hash replay with the clear value their history holds.
      {
        key: searchAttributes.customerEmail,
        value: recorded.customerEmailSearchValue ?? recorded.customerEmail ?? '',
      },
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
