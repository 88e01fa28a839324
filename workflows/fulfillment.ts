import {
  ApplicationFailure,
  condition,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ActivityFailure, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities/index.ts';
import * as options from './activity-options.ts';
import { classifyPermanentFailure, failureMessage } from './failures.ts';
import {
  checkoutSessionSignal,
  claimedSignal,
  DELIVERY_NOT_RECORDED,
  fulfillmentStatusQuery,
  revokedSignal,
  searchAttributes,
  type ActivatedEntitlements,
  type FulfillmentInput,
  type FulfillmentResult,
  type FulfillmentState,
  type FulfillmentStatus,
  type JobStep,
  type OrderEmailKind,
  type StoredJobStep,
} from './contracts.ts';
import { fulfillmentBeforeLean } from './fulfillment-before-lean.ts';

const local = proxyLocalActivities<Activities>(options.databaseStepLocal);
const storageLocal = proxyLocalActivities<Activities>(options.storageStepLocal);
const database = proxyActivities<Activities>(options.databaseStep);
const databasePatient = proxyActivities<Activities>(options.databaseStepPatient);
const email = proxyActivities<Activities>(options.emailStep);
const emailPatient = proxyActivities<Activities>(options.emailStepPatient);
const storagePatient = proxyActivities<Activities>(options.storageStepPatient);

/**
 * Patch id of the lean shape: local activities for the steps before the receipt, the storage
 * check merged with activation, analytics and completion merged with the receipt, and one
 * search-attribute upsert per status a platform engineer can see. Runs started before it
 * replay `fulfillmentBeforeLean`.
 */
export const LEAN_FULFILLMENT = 'lean-fulfillment';

/**
 * Patch id of the wait for the Checkout Session: a payment intent without SKUs waits for its
 * session's event (signalled into the run) before it records the purchase.
 */
export const CHECKOUT_SESSION_WAIT = 'checkout-session-wait';

/**
 * How long a payment intent created by Checkout waits for its session's event. Stripe sends the
 * two within seconds of each other; after this the run looks the session up in Stripe instead.
 */
export const CHECKOUT_SESSION_WAIT_TIMEOUT = '2 minutes';

/**
 * Turns one successful payment into a customer's entitlements and receipt, then reminds the
 * buyer until they download and claim. The workflow id is the purchase
 * (`fulfillment-<payment intent or checkout session>`); every step is an idempotent
 * activity, so a retried or replayed run converges on the same rows. A refund or lost
 * dispute that got there first ends the run `revoked` with a cancellation email instead.
 */
export async function fulfillmentWorkflow(input: FulfillmentInput): Promise<FulfillmentResult> {
  if (!patched(LEAN_FULFILLMENT)) return fulfillmentBeforeLean(input);
  return leanFulfillment(input);
}

/** Every attempt timeout is retryable in the lean shape (it postdates that rule). */
const permanentCause = (error: unknown) => classifyPermanentFailure(error, () => true);

const isDeliveryNotRecorded = (error: unknown): boolean =>
  error instanceof ActivityFailure &&
  error.cause instanceof ApplicationFailure &&
  error.cause.type === DELIVERY_NOT_RECORDED;

/**
 * The fulfillment in the fewest billable actions its guarantees allow: a known account's
 * costs 7 (start, the local activities' markers, the receipt, two upserts, the 24 h timer and
 * its reminder check), a guest's with both reminders 9. Per-step retries and the statuses
 * (`pending_retry`, `needs_attention`) work as before; see README "The fulfillment workflow".
 */
async function leanFulfillment(input: FulfillmentInput): Promise<FulfillmentResult> {
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
  let checkoutSessionEventId: string | null = null;
  setHandler(checkoutSessionSignal, ({ stripeEventId }) => {
    checkoutSessionEventId ??= stripeEventId;
  });

  const setStatus = (status: FulfillmentStatus): void => {
    if (state.status === status && state.steps.length > 0) return;
    state.status = status;
    state.steps.push({ status, at: new Date().toISOString() });
  };

  // What the visibility store shows. The start sets FulfillmentStatus (pending_storage),
  // OrderSource and PaymentIntentId at no cost; the workflow upserts only what changed, and
  // only before it waits on the server (a regular activity, a timer, the end): changes made
  // within one workflow task — the local activities — would reach visibility together anyway.
  // One upsert per visible status change, each one action.
  let shownStatus = workflowInfo().typedSearchAttributes.get(searchAttributes.fulfillmentStatus);
  let customerEmail: string | null = null;
  let customerEmailShown = false;
  const publish = (): void => {
    const updates: SearchAttributeUpdatePair[] = [];
    if (state.status !== shownStatus)
      updates.push({ key: searchAttributes.fulfillmentStatus, value: state.status });
    if (customerEmail !== null && !customerEmailShown)
      updates.push({ key: searchAttributes.customerEmail, value: customerEmail });
    if (updates.length === 0) return;
    upsertSearchAttributes(updates);
    shownStatus = state.status;
    customerEmailShown = customerEmail !== null;
  };

  /**
   * Runs a step: quick attempts first; when they fail, the job shows `pending_retry` and the
   * step goes on with patient attempts (a regular activity) until it succeeds or fails
   * permanently.
   */
  async function step<T>(
    name: string,
    quick: () => Promise<T>,
    patient: () => Promise<T>,
    whenRetrying?: (error: unknown) => Promise<void>,
  ): Promise<T> {
    try {
      return await quick();
    } catch (error) {
      if (permanentCause(error)) throw error;
      const message = failureMessage(error);
      publish();
      // Before the job exists (the first step) only the search attribute can show it.
      if (state.jobId)
        setStatus(
          await databasePatient.markJobRetrying({ jobId: state.jobId, step: name, error: message }),
        );
      else setStatus('pending_retry');
      publish();
      await whenRetrying?.(error);
      return patient();
    }
  }

  const sendCancellation = (job: JobStep) => {
    const kind: OrderEmailKind = 'cancellation';
    publish();
    return step(
      `email:${kind}`,
      () => email.sendOrderEmail({ orderId: job.orderId, kind }),
      () => emailPatient.sendOrderEmail({ orderId: job.orderId, kind }),
      (error) => database.alertEmailFailing({ ...job, kind, error: failureMessage(error) }),
    );
  };

  // A payment intent that Checkout created says nothing about what was bought: its session's
  // event does. Whichever arrived first, read the purchase from the session's event; look the
  // session up in Stripe only when its event does not come in time.
  let purchaseInput = input;
  if (
    input.source === 'stripe' &&
    input.awaitCheckoutSession === true &&
    patched(CHECKOUT_SESSION_WAIT)
  ) {
    await condition(() => checkoutSessionEventId !== null, CHECKOUT_SESSION_WAIT_TIMEOUT);
    if (checkoutSessionEventId !== null)
      purchaseInput = { ...input, stripeEventId: checkoutSessionEventId };
  }

  let job: JobStep | null = null;
  let guest = false;
  try {
    const recorded = await step(
      'record_purchase',
      () => local.recordPurchase(purchaseInput),
      () => databasePatient.recordPurchase(purchaseInput),
    );
    job = { jobId: recorded.jobId, orderId: recorded.orderId };
    guest = recorded.guest;
    state.jobId = recorded.jobId;
    state.orderId = recorded.orderId;
    customerEmail = recorded.customerEmailSearchValue ?? '';
    setStatus(recorded.status);
    if (recorded.unknownItems.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `unknown ${recorded.unknownItems.join(', ')}`,
        'UnknownSku',
      );
    }
    const current = job;
    // Refunded or disputed before the purchase was recorded: the entitlements are revoked
    // already, and the buyer is owed the cancellation only.
    let activated: ActivatedEntitlements = { status: 'revoked', entitlementStatus: 'revoked' };
    if (recorded.status !== 'revoked') {
      const stored: StoredJobStep = {
        ...current,
        purchaseKey: recorded.purchaseKey,
        assets: recorded.assets,
      };
      activated = await step(
        'activate_entitlements',
        () => storageLocal.activateStoredEntitlements(stored),
        () => storagePatient.activateStoredEntitlements(stored),
      );
    }
    setStatus(activated.status);
    if (activated.entitlementStatus === 'revoked') {
      await sendCancellation(current);
      state.phase = 'done';
      publish();
      return { status: state.status, jobId: current.jobId, orderId: current.orderId };
    }
    publish();
    setStatus(
      await step(
        'email:delivery',
        () => email.deliverOrder(current),
        () => emailPatient.deliverOrder(current),
        // DESIGN.md: an email that failed twice alerts — not a database hiccup after it went out.
        async (error) => {
          if (isDeliveryNotRecorded(error)) return;
          await database.alertEmailFailing({
            ...current,
            kind: 'delivery',
            error: failureMessage(error),
          });
        },
      ),
    );
  } catch (error) {
    const permanent = permanentCause(error);
    if (permanent) {
      const workflowId = workflowInfo().workflowId;
      log.error('fulfillment needs attention', { workflowId, ...permanent });
      setStatus('needs_attention');
      publish();
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
  publish();
  const cancelled = () => revoked || (guest && claimed);
  if (!(await condition(cancelled, '24 hours'))) {
    await databasePatient.sendReminders({ orderId: job.orderId, milestone: '24h' });
    if (guest && !(await condition(cancelled, '6 days'))) {
      await databasePatient.sendReminders({ orderId: job.orderId, milestone: '7d' });
    }
  }
  if (revoked) setStatus('revoked');
  state.phase = 'done';
  publish();
  return { status: state.status, jobId: job.jobId, orderId: job.orderId };
}
