import { sql } from 'kysely';
import type { EntitlementStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';

export interface EntitlementFacts {
  /** Storage and persistence succeeded (entitlements.activated_at is set). */
  activated: boolean;
  /** The buyer's profile is linked to an account. */
  claimed: boolean;
  adjustments: { kind: 'refund' | 'dispute' | 'revocation'; full: boolean; status: string }[];
}

/**
 * What an entitlement must be, given everything known about its purchase. Derived from facts
 * rather than from the previous status, so refunds, disputes and the success event reach the
 * same end state in any order: a full refund or a lost dispute revokes; an open dispute
 * suspends; a won dispute leaves nothing in the way (the restore).
 */
export function deriveEntitlementStatus(facts: EntitlementFacts): EntitlementStatus {
  const revoked = facts.adjustments.some(
    (a) =>
      (a.kind === 'refund' && a.full) ||
      (a.kind === 'dispute' && a.status === 'lost') ||
      // An operator's restore marks the revocation `restored` (the fact stays, for the record).
      (a.kind === 'revocation' && a.status !== 'restored'),
  );
  if (revoked) return 'revoked';
  if (facts.adjustments.some((a) => a.kind === 'dispute' && a.status === 'open'))
    return 'suspended';
  if (!facts.activated) return 'processing';
  return facts.claimed ? 'active' : 'pending_claim';
}

/**
 * Serialises every writer of one purchase (fulfillment, refund, dispute) for the rest of the
 * transaction, so a refund recorded while the order is being created is never missed.
 */
export async function lockPurchase(trx: DbExecutor, purchaseKey: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${purchaseKey}, 0))`.execute(trx);
}

/**
 * True for an `entitlements` row with an operator's product revocation in force
 * (`product_revocations`): every statement that sets an order's entitlements to the order's
 * derived status leaves such a row revoked.
 */
export const productRevokedInForce = sql<boolean>`exists (
  select 1 from product_revocations
   where product_revocations.entitlement_id = entitlements.id
     and product_revocations.status = 'revoked')`;

export interface ReconciledEntitlements {
  previous: EntitlementStatus[];
  status: EntitlementStatus;
}

/**
 * Brings the order's entitlements to their derived status (call under `lockPurchase`).
 * `activate` records that storage and persistence succeeded.
 */
export async function reconcileOrderEntitlements(
  trx: DbExecutor,
  orderId: string,
  { activate = false }: { activate?: boolean } = {},
): Promise<ReconciledEntitlements> {
  const order = await trx
    .selectFrom('orders')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .select(['orders.purchase_key', 'customers.auth_user_id'])
    .where('orders.id', '=', orderId)
    .executeTakeFirstOrThrow();
  if (activate) {
    await trx
      .updateTable('entitlements')
      .set({ activated_at: sql<Date>`now()` })
      .where('order_id', '=', orderId)
      .where('activated_at', 'is', null)
      .execute();
  }
  const entitlements = await trx
    .selectFrom('entitlements')
    .select(['id', 'status', 'activated_at'])
    .where('order_id', '=', orderId)
    .execute();
  const adjustments = await trx
    .selectFrom('payment_adjustments')
    .select(['kind', 'full', 'status'])
    .where('purchase_key', '=', order.purchase_key)
    .execute();
  const status = deriveEntitlementStatus({
    activated: entitlements.length > 0 && entitlements.every((e) => e.activated_at !== null),
    claimed: order.auth_user_id !== null,
    adjustments,
  });
  // A product an operator revoked on its own stays revoked whatever the order's facts say.
  const derived = sql<EntitlementStatus>`case when ${productRevokedInForce} then 'revoked' else ${status} end`;
  await trx
    .updateTable('entitlements')
    .set({ status: derived, updated_at: sql<Date>`now()` })
    .where('order_id', '=', orderId)
    .where(sql<boolean>`status <> ${derived}`)
    .execute();
  return { previous: entitlements.map((e) => e.status), status };
}
