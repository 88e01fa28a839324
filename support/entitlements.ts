import { randomUUID } from 'node:crypto';
import {
  listOrderEntitlementIds,
  recordOperatorGrant,
  recordOperatorResend,
  restoreOrderAccess,
  revokeOrderAccess,
} from '../db/queries/operator-access.ts';
import { findProductsBySkus } from '../db/queries/products.ts';
import { REWARD_KINDS, type RewardKind } from '../db/tables/rewards.ts';
import {
  signalRevoked,
  startFulfillment,
  startOperatorRevocation,
  startResend,
} from '../temporal/workflows.ts';
import {
  fulfillmentWorkflowId,
  rewardPurchaseKey,
  type EntitlementStatus,
} from '../workflows/contracts.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';
import { resolvePurchase } from './jobs.ts';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface GrantRequest {
  email: string;
  skus: string[];
  /** Links the grant to an account right away (else the buyer claims it by email). */
  userId?: string | undefined;
  /** `coupon` (a comp) or `mission` (a mission unlock that did not arrive). */
  kind?: RewardKind | undefined;
  missionId?: string | undefined;
  /** Makes a repeated grant one grant (defaults to a fresh id). */
  grantId?: string | undefined;
}

export interface GrantOutcome {
  grantId: string;
  purchaseKey: string;
  workflowId: string;
  duplicate: boolean;
}

/**
 * Gives products without a payment: recorded like a reward (granted by the operator) and
 * fulfilled by the same workflow as a purchase — entitlements, receipt with links, claim
 * email for guests. The grant and its audit entry are one transaction.
 */
export async function grantEntitlement(
  deps: OperationsDeps,
  request: GrantRequest,
  who: Authorship,
): Promise<GrantOutcome> {
  requireReason(who);
  const email = request.email.trim().toLowerCase();
  if (!EMAIL.test(email)) throw new OperationError('invalid', 'email: not an email address');
  const skus = [...new Set(request.skus.map((s) => s.trim()).filter(Boolean))];
  if (skus.length === 0) throw new OperationError('invalid', 'skus: at least one SKU');
  const kind = request.kind ?? 'coupon';
  if (!REWARD_KINDS.includes(kind))
    throw new OperationError('invalid', `kind: one of ${REWARD_KINDS.join(', ')}`);
  const grantId = request.grantId ?? `op-${randomUUID()}`;
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(grantId))
    throw new OperationError('invalid', 'grantId: letters, digits, _ and - only (1–100)');
  const known = new Set((await findProductsBySkus(deps.db, skus)).map((p) => p.sku));
  const unknown = skus.filter((sku) => !known.has(sku));
  if (unknown.length > 0)
    throw new OperationError('invalid', `skus: not in the catalog: ${unknown.join(', ')}`);

  const purchaseKey = rewardPurchaseKey(grantId);
  const workflowId = fulfillmentWorkflowId(purchaseKey);
  const inserted = await recordOperatorGrant(
    deps.db,
    {
      reward_id: grantId,
      kind,
      mission_id: request.missionId ?? null,
      email,
      user_id: request.userId ?? null,
      skus,
      granted_by: `operator:${who.operator.name}`,
      revoked_at: null,
      revoke_reason: null,
    },
    {
      actor: who.operator.name,
      action: 'entitlement.granted',
      target: purchaseKey,
      reason: who.reason,
      detail: { skus, kind, missionId: request.missionId ?? null, role: who.operator.role },
    },
  );
  await startFulfillment(deps.temporal, {
    source: 'reward',
    purchaseKey,
    paymentIntentId: null,
    rewardId: grantId,
  });
  return { grantId, purchaseKey, workflowId, duplicate: !inserted };
}

export interface AccessChange {
  orderId: string;
  purchaseKey: string;
  entitlementIds: string[];
  previous: EntitlementStatus[];
  status: EntitlementStatus;
  /** Revoke only: the fulfillment run was told to stop its reminders (false: it had closed). */
  remindersStopped?: boolean;
  /** Revoke only: the run sending the buyer's one cancellation email (null: not wanted). */
  cancellationWorkflowId?: string | null;
}

/**
 * Revokes a purchase's access (all entitlements of its order): records a revocation fact,
 * re-derives the entitlements (every emailed link dies on its next click), moves the job to
 * `revoked` and audits — one transaction; then tells the fulfillment run to stop reminding
 * and starts the buyer's one cancellation email.
 * Idempotent: revoking again changes nothing.
 */
export async function revokeAccess(
  deps: OperationsDeps,
  reference: string,
  who: Authorship,
  { notifyBuyer = true }: { notifyBuyer?: boolean } = {},
): Promise<AccessChange> {
  requireReason(who);
  const { order } = await resolvePurchase(deps.db, reference);
  const change = await revokeOrderAccess(
    deps.db,
    { id: order.id, purchaseKey: order.purchase_key },
    { operator: who.operator.name, role: who.operator.role, reason: who.reason, notifyBuyer },
  );
  // The buyer is told once per order (the run and the ledger key are per order), so a revoke
  // repeated after a failure here starts what the first one could not; an order a refund
  // revoked was told already and its cancellation key is spent.
  const cancellationWorkflowId =
    change.status === 'revoked' && notifyBuyer
      ? await startOperatorRevocation(deps.temporal, order.id)
      : null;
  // A closed run has no reminders left (false); anything else is worth surfacing.
  const remindersStopped = await signalRevoked(deps.temporal, order.purchase_key);
  return {
    ...(await accessOf(deps, order.id, order.purchase_key)),
    ...change,
    remindersStopped,
    cancellationWorkflowId,
  };
}

/**
 * Undoes revocations (an operator's or a reward's): the facts are marked `restored` and the
 * entitlements go back to `active` or `pending_claim`. Refused while a full refund or a lost
 * dispute stands — those are Stripe's facts, not ours to undo.
 */
export async function restoreAccess(
  deps: OperationsDeps,
  reference: string,
  who: Authorship,
): Promise<AccessChange> {
  requireReason(who);
  const { order } = await resolvePurchase(deps.db, reference);
  const restored = await restoreOrderAccess(
    deps.db,
    { id: order.id, purchaseKey: order.purchase_key },
    { operator: who.operator.name, role: who.operator.role, reason: who.reason },
  );
  if (restored.refused) {
    throw new OperationError(
      'conflict',
      `access stays ${restored.status}: a full refund or a dispute is recorded for ${order.purchase_key}`,
    );
  }
  const change = { previous: restored.previous, status: restored.status };
  return { ...(await accessOf(deps, order.id, order.purchase_key)), ...change };
}

async function accessOf(deps: OperationsDeps, orderId: string, purchaseKey: string) {
  const entitlementIds = await listOrderEntitlementIds(deps.db, orderId);
  return { orderId, purchaseKey, entitlementIds };
}

export interface ResendOutcome {
  orderId: string;
  recipient: string;
  workflowId: string;
  sequence: number;
}

/**
 * Emails fresh download links for an order (named by any of its references) through the
 * resend workflow. Operators are not held to the buyer's hourly limit; each resend is
 * audited and has its own sequence number, so a repeated request is still one email.
 */
export async function resendLinks(
  deps: OperationsDeps,
  reference: string,
  who: Authorship,
): Promise<ResendOutcome> {
  requireReason(who);
  const { order, email, entitlements } = await resolvePurchase(deps.db, reference);
  const downloadable = entitlements.some(
    (e) => e.status === 'active' || e.status === 'pending_claim',
  );
  if (!downloadable) {
    throw new OperationError(
      'conflict',
      `nothing to resend: access is ${[...new Set(entitlements.map((e) => e.status))].join(', ') || 'not granted yet'}`,
    );
  }
  const { sequence, workflowId } = await recordOperatorResend(
    deps.db,
    { id: order.id, purchaseKey: order.purchase_key },
    { operator: who.operator.name, role: who.operator.role, reason: who.reason, recipient: email },
    (sequence) => startResend(deps.temporal, { orderId: order.id, sequence }),
  );
  return { orderId: order.id, recipient: email, workflowId, sequence };
}
