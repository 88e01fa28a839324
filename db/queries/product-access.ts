import { sql } from 'kysely';
import type { EntitlementStatus } from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import { recordAudit } from './audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from './entitlements.ts';
import { transitionJob } from './fulfillment.ts';
import type { OperatorAct } from './operator-access.ts';

/* An operator's changes to one product of a customer's orders (the orders' other products stay
 * as they are): revoke and restore, each one transaction with its audit rows. */

/** One entitlement a per-product operation changed (or found as it wanted it). */
export interface ProductAccessChange {
  entitlementId: string;
  orderId: string;
  purchaseKey: string;
  sku: string;
  previous: EntitlementStatus;
  status: EntitlementStatus;
  /** Revoke: the cancellation email's number within the order (null: no email wanted). */
  emailSequence: number | null;
  /** Revoke: this call revoked it (false: it was revoked already). */
  changed: boolean;
  /** Every entitlement of the order is now revoked (the job is `revoked` too). */
  orderRevoked: boolean;
}

/** Why a per-product operation refused; the transaction is rolled back. */
export class ProductAccessRefused extends Error {
  override name = 'ProductAccessRefused';
}

interface Owned {
  id: string;
  order_id: string;
  purchase_key: string;
  sku: string;
}

/** The customer's entitlements to `sku` (optionally in one order), oldest order first. */
export async function findCustomerProductEntitlements(
  db: DbExecutor,
  { customerId, sku, orderId }: { customerId: string; sku: string; orderId?: string | undefined },
): Promise<Owned[]> {
  let query = db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .innerJoin('orders', 'orders.id', 'entitlements.order_id')
    .select(['entitlements.id', 'entitlements.order_id', 'orders.purchase_key', 'products.sku'])
    .where('entitlements.customer_id', '=', customerId)
    .where('products.sku', '=', sku);
  if (orderId) query = query.where('orders.id', '=', orderId);
  return query.orderBy('orders.created_at').orderBy('entitlements.id').execute();
}

async function orderStatuses(trx: DbExecutor, orderId: string) {
  return trx
    .selectFrom('entitlements')
    .select(['id', 'status'])
    .where('order_id', '=', orderId)
    .execute();
}

/** The entitlement as the outcome names it. */
const named = (entitlement: Owned) => ({
  entitlementId: entitlement.id,
  orderId: entitlement.order_id,
  purchaseKey: entitlement.purchase_key,
  sku: entitlement.sku,
});

/** One entitlement's audit row, target the entitlement, `scope: product`. */
function auditProductChange(
  trx: DbExecutor,
  action: 'entitlement.revoked' | 'entitlement.restored',
  entitlement: Owned,
  act: OperatorAct,
  detail: Record<string, unknown>,
) {
  return recordAudit(trx, {
    actor: act.operator,
    action,
    target: entitlement.id,
    reason: act.reason,
    detail: {
      scope: 'product',
      sku: entitlement.sku,
      orderId: entitlement.order_id,
      purchaseKey: entitlement.purchase_key,
      ...detail,
      role: act.role,
    },
  });
}

async function lockOrders(trx: DbExecutor, owned: Owned[]): Promise<void> {
  // A fixed order, so two operations on overlapping orders cannot deadlock.
  for (const key of [...new Set(owned.map((o) => o.purchase_key))].sort())
    await lockPurchase(trx, key);
}

/**
 * Revokes the customer's `sku` entitlements, in one transaction under their purchases' locks:
 * records a product revocation per entitlement (one in force at a time), re-derives each
 * order's entitlements (the revoked product's links die on their next click; the others are
 * untouched), moves a job whose every product is now revoked to `revoked`, and audits each
 * entitlement. Refused while a product is still `processing` (not yet delivered). Repeating it
 * changes nothing and returns the revocation in force (with its email number).
 */
export async function revokeProductAccess(
  db: Db,
  owned: Owned[],
  act: OperatorAct & { notifyBuyer: boolean },
): Promise<ProductAccessChange[]> {
  return db.transaction().execute(async (trx) => {
    await lockOrders(trx, owned);
    const changes: ProductAccessChange[] = [];
    for (const entitlement of owned) {
      const before = await orderStatuses(trx, entitlement.order_id);
      const previous = before.find((e) => e.id === entitlement.id)!.status;
      if (previous === 'processing')
        throw new ProductAccessRefused(
          `${entitlement.sku} in ${entitlement.purchase_key} is still processing: revoke it once delivered, or revoke the whole order`,
        );
      const inForce = await trx
        .selectFrom('product_revocations')
        .select(['email_sequence', 'notify_buyer'])
        .where('entitlement_id', '=', entitlement.id)
        .where('status', '=', 'revoked')
        .executeTakeFirst();
      let emailSequence = inForce?.notify_buyer ? inForce.email_sequence : null;
      if (!inForce) {
        // The order's own cancellation is number 1; each product revocation takes the next.
        const { count } = await trx
          .selectFrom('product_revocations')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('order_id', '=', entitlement.order_id)
          .executeTakeFirstOrThrow();
        const sequence = Number(count) + 2;
        await trx
          .insertInto('product_revocations')
          .values({
            entitlement_id: entitlement.id,
            order_id: entitlement.order_id,
            status: 'revoked',
            email_sequence: sequence,
            notify_buyer: act.notifyBuyer,
          })
          .execute();
        emailSequence = act.notifyBuyer ? sequence : null;
      }
      await reconcileOrderEntitlements(trx, entitlement.order_id);
      const after = await orderStatuses(trx, entitlement.order_id);
      const status = after.find((e) => e.id === entitlement.id)!.status;
      const orderRevoked = after.every((e) => e.status === 'revoked');
      const changed = previous !== 'revoked';
      if (orderRevoked && changed) {
        const job = await trx
          .selectFrom('fulfillment_jobs')
          .select('id')
          .where('order_id', '=', entitlement.order_id)
          .executeTakeFirst();
        if (job)
          await transitionJob(trx, job.id, 'revoked', {
            step: 'operator_product_revocation',
            operator: act.operator,
            sku: entitlement.sku,
          });
      }
      if (!inForce)
        await auditProductChange(trx, 'entitlement.revoked', entitlement, act, {
          previous,
          status,
          orderRevoked,
          notifyBuyer: act.notifyBuyer,
        });
      changes.push({
        ...named(entitlement),
        previous,
        status,
        emailSequence: changed || inForce ? emailSequence : null,
        changed,
        orderRevoked,
      });
    }
    return changes;
  });
}

/**
 * Lifts the product revocations in force on the customer's `sku` entitlements, in one
 * transaction under their purchases' locks: re-derives each order's entitlements, moves a
 * completed job that was revoked back to `completed`, and audits each entitlement. Refused
 * (nothing written) when an entitlement stays revoked or suspended for its order's own facts
 * (a refund, a dispute, a whole-order revocation: `entitlements restore <order>` undoes that).
 */
export async function restoreProductAccess(
  db: Db,
  owned: Owned[],
  act: OperatorAct,
): Promise<ProductAccessChange[]> {
  return db.transaction().execute(async (trx) => {
    await lockOrders(trx, owned);
    const changes: ProductAccessChange[] = [];
    for (const entitlement of owned) {
      const before = await orderStatuses(trx, entitlement.order_id);
      const previous = before.find((e) => e.id === entitlement.id)!.status;
      const lifted = await trx
        .updateTable('product_revocations')
        .set({ status: 'restored', updated_at: sql<Date>`now()` })
        .where('entitlement_id', '=', entitlement.id)
        .where('status', '=', 'revoked')
        .executeTakeFirst();
      const changed = Number(lifted.numUpdatedRows) > 0;
      await reconcileOrderEntitlements(trx, entitlement.order_id);
      const after = await orderStatuses(trx, entitlement.order_id);
      const status = after.find((e) => e.id === entitlement.id)!.status;
      if (status === 'revoked' || status === 'suspended')
        throw new ProductAccessRefused(
          `${entitlement.sku} in ${entitlement.purchase_key} stays ${status}: a refund, a dispute or a whole-order revocation is recorded for the order`,
        );
      if (changed) {
        const job = await trx
          .selectFrom('fulfillment_jobs')
          .select(['id', 'status', 'completed_at'])
          .where('order_id', '=', entitlement.order_id)
          .executeTakeFirst();
        if (job?.status === 'revoked' && job.completed_at)
          await transitionJob(
            trx,
            job.id,
            'completed',
            { step: 'operator_product_restore', operator: act.operator, sku: entitlement.sku },
            { restore: true },
          );
        await auditProductChange(trx, 'entitlement.restored', entitlement, act, {
          previous,
          status,
        });
      }
      changes.push({
        ...named(entitlement),
        previous,
        status,
        emailSequence: null,
        changed,
        orderRevoked: false,
      });
    }
    return changes;
  });
}
