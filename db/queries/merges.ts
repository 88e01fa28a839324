import { sql } from 'kysely';
import type { Db } from '../database.ts';
import type { VerificationPoint } from '../tables/customer-merges.ts';
import { recordAudit } from './audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from './entitlements.ts';
import type { OperatorAct } from './operator-access.ts';

/** A data point the operator collected; `matched` ones are checked against the orders moved. */
export interface OfferedPoint {
  kind: string;
  value: string;
}

/** Kinds checked against the source customer's orders; any other kind is attested. */
const MATCHED_KINDS = new Set(['order_id', 'payment_intent', 'purchase_date']);

export interface MergedCustomers {
  mergeId: string;
  fromCustomerId: string;
  toCustomerId: string;
  /** The target was created by this merge (a new email nobody bought with yet). */
  toCreated: boolean;
  /** The target is linked to an account (the moved entitlements are `active`). */
  toClaimed: boolean;
  orders: { orderId: string; purchaseKey: string }[];
  entitlementsMoved: number;
  verification: VerificationPoint[];
}

/** Why a merge was refused; the transaction is rolled back. */
export class MergeRefused extends Error {
  override name = 'MergeRefused';
  readonly kind: 'invalid' | 'conflict';
  constructor(kind: 'invalid' | 'conflict', message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * Moves every order of `fromCustomerId` — with its entitlements — to the target customer
 * (by id, or by email: created as a guest profile when nobody has it), in one transaction
 * under the purchases' locks. No order is created or split: each `orders` row keeps its
 * amounts and Stripe ids and now points at the target; the entitlements follow it and are
 * re-derived (`active` when the target has an account). The data points are checked where
 * the orders can check them (order id, payment intent, purchase date), the merge is recorded
 * in `customer_merges` with them, and audited (`customer.merged`, kinds only).
 */
export async function mergeCustomerPurchases(
  db: Db,
  request: {
    fromCustomerId: string;
    to: { id: string } | { email: string };
    points: OfferedPoint[];
  },
  act: OperatorAct,
): Promise<MergedCustomers> {
  return db.transaction().execute(async (trx) => {
    let toCreated = false;
    if ('email' in request.to) {
      const inserted = await trx
        .insertInto('customers')
        .values({ email: request.to.email, status: 'pending_claim', auth_user_id: null })
        .onConflict((oc) => oc.column('email').doNothing())
        .returning('id')
        .executeTakeFirst();
      toCreated = Boolean(inserted);
    }
    const target = await trx
      .selectFrom('customers')
      .select(['id', 'auth_user_id'])
      .where(
        'id' in request.to ? 'id' : 'email',
        '=',
        'id' in request.to ? request.to.id : request.to.email,
      )
      .executeTakeFirst();
    if (!target) throw new MergeRefused('invalid', 'to: no customer has this id');
    if (target.id === request.fromCustomerId)
      throw new MergeRefused('invalid', 'to: the same customer as from');

    const orders = await trx
      .selectFrom('orders')
      .select(['id', 'purchase_key', 'payment_intent_id', 'checkout_session_id', 'paid_at'])
      .where('customer_id', '=', request.fromCustomerId)
      .orderBy('purchase_key')
      .execute();
    if (orders.length === 0)
      throw new MergeRefused('conflict', 'nothing to move: the customer has no orders');
    for (const order of orders) await lockPurchase(trx, order.purchase_key);

    const verification: VerificationPoint[] = [];
    for (const point of request.points) {
      if (!MATCHED_KINDS.has(point.kind)) {
        verification.push({ ...point, check: 'attested' });
        continue;
      }
      const value = point.value.trim();
      const matches = orders.some((order) =>
        point.kind === 'purchase_date'
          ? order.paid_at.toISOString().slice(0, 10) === value
          : point.kind === 'payment_intent'
            ? order.payment_intent_id === value || order.checkout_session_id === value
            : order.id === value || order.purchase_key === value,
      );
      if (!matches)
        throw new MergeRefused(
          'invalid',
          `verification ${point.kind}: ${value} matches none of the customer's orders`,
        );
      verification.push({ ...point, value, check: 'matched' });
    }

    await trx
      .updateTable('orders')
      .set({ customer_id: target.id })
      .where('customer_id', '=', request.fromCustomerId)
      .execute();
    const moved = await trx
      .updateTable('entitlements')
      .set({ customer_id: target.id, updated_at: sql<Date>`now()` })
      .where('customer_id', '=', request.fromCustomerId)
      .executeTakeFirst();
    // The old address's claim links would claim an empty profile: spend them.
    await trx
      .updateTable('claim_tokens')
      .set({ used_at: sql<Date>`now()` })
      .where('customer_id', '=', request.fromCustomerId)
      .where('used_at', 'is', null)
      .execute();
    for (const order of orders) await reconcileOrderEntitlements(trx, order.id);

    const orderIds = orders.map((o) => o.id);
    const entitlementsMoved = Number(moved.numUpdatedRows);
    const merge = await trx
      .insertInto('customer_merges')
      .values({
        from_customer_id: request.fromCustomerId,
        to_customer_id: target.id,
        order_ids: orderIds,
        entitlements_moved: entitlementsMoved,
        verification: JSON.stringify(verification),
        operator: act.operator,
        reason: act.reason,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordAudit(trx, {
      actor: act.operator,
      action: 'customer.merged',
      target: request.fromCustomerId,
      reason: act.reason,
      detail: {
        mergeId: merge.id,
        to: target.id,
        toCreated,
        orders: orderIds,
        entitlementsMoved,
        // The kinds and how each was checked; the values stay in customer_merges.
        verification: verification.map(({ kind, check }) => ({ kind, check })),
        role: act.role,
      },
    });
    return {
      mergeId: merge.id,
      fromCustomerId: request.fromCustomerId,
      toCustomerId: target.id,
      toCreated,
      toClaimed: target.auth_user_id !== null,
      orders: orders.map((o) => ({ orderId: o.id, purchaseKey: o.purchase_key })),
      entitlementsMoved,
      verification,
    };
  });
}
