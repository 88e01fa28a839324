import {
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { databaseStepLocal, databaseStepPatient, emailStepPatient } from './activity-options.ts';
import {
  disputeEventSignal,
  fulfillmentWorkflowId,
  revokedSignal,
  searchAttributes,
  type AppliedAdjustment,
  type PurchaseStatusAttributes,
  type OperatorRevocationInput,
  type PaymentAdjustmentInput,
  type ResendInput,
  type ClaimLinkInput,
  type RewardRevocationInput,
} from './contracts.ts';

const database = proxyActivities<Activities>(databaseStepPatient);
const databaseLocal = proxyLocalActivities<Activities>(databaseStepLocal);
const email = proxyActivities<Activities>(emailStepPatient);

/**
 * Patch id: a workflow that changes a purchase's status carries the purchase's search
 * attributes, so the Temporal UI shows the true status after the fulfillment run closed. Runs
 * from before replay without the upsert. Adjustment runs are short (a dispute's waits a minute
 * of quiet), so the patch can go once the deploy after this one is out.
 */
const ADJUSTMENT_CARRIES_STATUS = 'adjustment-carries-status';

/**
 * Shows the purchase's status on this workflow: FulfillmentStatus (e.g. `revoked`),
 * PaymentIntentId, OrderSource and CustomerEmail, in one upsert (one action).
 */
function carryPurchaseStatus(purchase: PurchaseStatusAttributes | null | undefined): void {
  if (!purchase || !patched(ADJUSTMENT_CARRIES_STATUS)) return;
  upsertSearchAttributes([
    { key: searchAttributes.fulfillmentStatus, value: purchase.status },
    { key: searchAttributes.orderSource, value: purchase.orderSource },
    { key: searchAttributes.customerEmail, value: purchase.customerEmailSearchValue },
    ...(purchase.paymentIntentId
      ? [{ key: searchAttributes.paymentIntentId, value: purchase.paymentIntentId }]
      : []),
  ]);
}

/** Applies one refund or dispute event; a revocation sends the order's one cancellation email. */
async function applyAdjustment(input: PaymentAdjustmentInput): Promise<AppliedAdjustment> {
  return followUp(await database.applyPaymentAdjustment(input));
}

/**
 * After a fact was applied: the purchase's new status shown on this workflow, one cancellation
 * email when it revoked, and no more reminders.
 */
async function followUp(applied: AppliedAdjustment): Promise<AppliedAdjustment> {
  carryPurchaseStatus(applied.statusChange);
  if (applied.revoked && applied.orderId) {
    await email.sendOrderEmail({ orderId: applied.orderId, kind: 'cancellation' });
  }
  if (applied.entitlementStatus === 'revoked') {
    try {
      // Stops the fulfillment's reminders; a fulfillment that already closed has none.
      await getExternalWorkflowHandle(fulfillmentWorkflowId(applied.purchaseKey)).signal(
        revokedSignal,
      );
    } catch (error) {
      log.info('no open fulfillment to stop', {
        purchaseKey: applied.purchaseKey,
        error: String(error),
      });
    }
  }
  return applied;
}

/**
 * `refund-<refund_id>`: a full refund revokes the order's entitlements, a partial one is
 * recorded only. It may run before, during or long after the fulfillment.
 */
export async function refundWorkflow(input: PaymentAdjustmentInput): Promise<AppliedAdjustment> {
  return applyAdjustment(input);
}

/**
 * `dispute-<dispute_id>`: created suspends, won restores, lost revokes. Its events arrive by
 * signal (signal-with-start); the run ends once no event has come for a while, and a later
 * event simply starts a new run.
 */
export async function disputeWorkflow(): Promise<AppliedAdjustment | null> {
  const pending: PaymentAdjustmentInput[] = [];
  setHandler(disputeEventSignal, (input) => {
    pending.push(input);
  });
  let last: AppliedAdjustment | null = null;
  // One minute of quiet is plenty: Stripe sends a dispute's events days apart, not seconds.
  while (await condition(() => pending.length > 0, '1 minute')) {
    last = await applyAdjustment(pending.shift()!);
  }
  return last;
}

/**
 * `revoke-reward-<reward_id>`: takes a mission or coupon reward back — entitlements revoked,
 * one cancellation email, reminders stopped, and the mission audit entry written.
 */
export async function rewardRevocationWorkflow(
  input: RewardRevocationInput,
): Promise<AppliedAdjustment> {
  return followUp(await database.revokeReward(input));
}

/**
 * `revoke-order-<order_id>`: after an operator revoked an order (`npm run ops -- entitlements
 * revoke`, `POST /admin/entitlements/:id/revoke`), the buyer gets the order's cancellation
 * email, like after a refund. Once per order: the ledger key is the order's cancellation key.
 */
export async function operatorRevocationWorkflow(input: OperatorRevocationInput): Promise<void> {
  // The operator's command revoked the order before this started: show its status here too.
  if (patched(ADJUSTMENT_CARRIES_STATUS))
    carryPurchaseStatus(await databaseLocal.describePurchaseStatus(input));
  // A per-product revocation's own email (the same command as before: an activity input only).
  await email.sendOrderEmail({
    orderId: input.orderId,
    kind: 'cancellation',
    ...(input.sequence === undefined ? {} : { sequence: input.sequence }),
  });
}

/**
 * `resend-<order>-<n>`: fresh download links by email, through the ledger like every email
 * (the n-th resend has its own idempotency key, so a retried request sends it once).
 */
export async function resendLinksWorkflow(input: ResendInput): Promise<void> {
  await email.sendOrderEmail({ orderId: input.orderId, kind: 'resend', sequence: input.sequence });
}

/**
 * `claim-link-<order>-<n>`: a fresh claim link by email (support's reissue), through the
 * ledger; the email's new token is issued when the email is first recorded.
 */
export async function claimLinkWorkflow(input: ClaimLinkInput): Promise<void> {
  await email.sendOrderEmail({
    orderId: input.orderId,
    kind: 'claim_link',
    sequence: input.sequence,
  });
}
