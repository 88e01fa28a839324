import { recordClaimLinkReissue } from '../db/queries/claims.ts';
import { findCustomerStatus } from '../db/queries/jobs.ts';
import { countRateLimitHit } from '../db/queries/rate-limits.ts';
import { startClaimLink } from '../temporal/workflows.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';
import { resolvePurchase } from './jobs.ts';

/**
 * Reissues per guest and hour: enough for "the link expired, then the new one went to spam",
 * few enough that a confused ticket loop cannot flood a mailbox. Counted in PostgreSQL
 * (`rate_limit_counters`), so the limit holds whichever api or CLI sends.
 */
export const CLAIM_REISSUES_PER_HOUR = 3;
const HOUR_MS = 3_600_000;

export interface ClaimLinkReissue {
  orderId: string;
  recipient: string;
  workflowId: string;
  sequence: number;
  /** Claim links of the guest that stopped working with this reissue. */
  expiredLinks: number;
}

/**
 * Sends a guest a fresh claim link by email, through the orchestrator (a `claim-link-<order>-<n>`
 * workflow and the email ledger): every older claim link of the guest stops working, the
 * reissue is audited, and at most {@link CLAIM_REISSUES_PER_HOUR} go out per guest an hour.
 */
export async function reissueClaimLink(
  deps: OperationsDeps,
  reference: string,
  who: Authorship,
): Promise<ClaimLinkReissue> {
  requireReason(who);
  const { order, email } = await resolvePurchase(deps.db, reference);
  if ((await findCustomerStatus(deps.db, order.customer_id)) !== 'pending_claim') {
    throw new OperationError(
      'conflict',
      `nothing to claim: the purchase ${order.purchase_key} is already on an account`,
    );
  }
  const { hits, ttlMs } = await countRateLimitHit(
    deps.db,
    `claim-reissue:${order.customer_id}`,
    HOUR_MS,
  );
  if (hits > CLAIM_REISSUES_PER_HOUR) {
    throw new OperationError(
      'rate_limited',
      `too many claim links: ${CLAIM_REISSUES_PER_HOUR} an hour per buyer were sent already; try again in ${Math.ceil(ttlMs / 60_000)} minute(s)`,
    );
  }
  const reissue = await recordClaimLinkReissue(
    deps.db,
    { id: order.id, purchaseKey: order.purchase_key, customerId: order.customer_id },
    { operator: who.operator.name, role: who.operator.role, reason: who.reason, recipient: email },
    (sequence) => startClaimLink(deps.temporal, { orderId: order.id, sequence }),
  );
  return { orderId: order.id, recipient: email, ...reissue };
}
