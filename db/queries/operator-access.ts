import { sql } from 'kysely';
import { resendWorkflowId } from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import type { NewReward } from '../tables/rewards.ts';
import { recordAudit, type AuditRecord } from './audit.ts';
import {
  lockPurchase,
  reconcileOrderEntitlements,
  type ReconciledEntitlements,
} from './entitlements.ts';
import { transitionJob } from './fulfillment.ts';

/* An operator's changes to a purchase's access (grant, revoke, restore, resend), each one
 * transaction with its audit row. */

/** An operator's action as its audit row records it: who, in which role, and why. */
export interface OperatorAct {
  operator: string;
  role: string;
  reason: string;
}

/**
 * Records an operator's grant (a reward row) with its audit entry, in one transaction.
 * Returns false when the grant id is already recorded (nothing is written).
 */
export async function recordOperatorGrant(
  db: Db,
  reward: NewReward,
  audit: AuditRecord,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('rewards')
      .values(reward)
      .onConflict((oc) => oc.column('reward_id').doNothing())
      .returning('reward_id')
      .executeTakeFirst();
    if (row) await recordAudit(trx, audit);
    return Boolean(row);
  });
}

/**
 * An operator's revocation of an order, in one transaction under the purchase lock: records
 * the revocation fact, re-derives the entitlements, moves the job (if any) to `revoked` and
 * audits. Repeating it changes nothing.
 */
export async function revokeOrderAccess(
  db: Db,
  order: { id: string; purchaseKey: string },
  act: OperatorAct & { notifyBuyer: boolean },
): Promise<ReconciledEntitlements> {
  return db.transaction().execute(async (trx) => {
    await lockPurchase(trx, order.purchaseKey);
    await trx
      .insertInto('payment_adjustments')
      .values({
        kind: 'revocation',
        external_id: `operator-revocation:${order.id}`,
        purchase_key: order.purchaseKey,
        amount: 0,
        currency: null,
        full: true,
        status: 'revoked',
        stripe_event_id: null,
      })
      .onConflict((oc) =>
        oc.column('external_id').doUpdateSet({ status: 'revoked', updated_at: sql<Date>`now()` }),
      )
      .execute();
    const { previous, status } = await reconcileOrderEntitlements(trx, order.id);
    const job = await trx
      .selectFrom('fulfillment_jobs')
      .select('id')
      .where('order_id', '=', order.id)
      .executeTakeFirst();
    if (job)
      await transitionJob(trx, job.id, 'revoked', {
        step: 'operator_revocation',
        operator: act.operator,
      });
    await recordAudit(trx, {
      actor: act.operator,
      action: 'entitlement.revoked',
      target: order.id,
      reason: act.reason,
      detail: {
        purchaseKey: order.purchaseKey,
        previous,
        status,
        role: act.role,
        notifyBuyer: act.notifyBuyer,
      },
    });
    return { previous, status };
  });
}

/** What `restoreOrderAccess` did: restored, or refused (and wrote nothing). */
export type RestoredAccess =
  | ({ refused: false } & ReconciledEntitlements)
  | { refused: true; status: 'revoked' | 'suspended' };

/** Thrown inside the restore transaction to roll it back; never leaves this module. */
class RestoreRefused extends Error {
  readonly status: 'revoked' | 'suspended';
  constructor(status: 'revoked' | 'suspended') {
    super(`access stays ${status}`);
    this.status = status;
  }
}

/**
 * An operator's restore of an order, in one transaction under the purchase lock: marks its
 * revocations `restored`, re-derives the entitlements, moves a completed job that was revoked
 * back to `completed` and audits. When a full refund or a dispute still leaves the access
 * revoked or suspended, the whole transaction is rolled back and `refused` returned.
 */
export async function restoreOrderAccess(
  db: Db,
  order: { id: string; purchaseKey: string },
  act: OperatorAct,
): Promise<RestoredAccess> {
  try {
    return await db.transaction().execute(async (trx) => {
      await lockPurchase(trx, order.purchaseKey);
      await trx
        .updateTable('payment_adjustments')
        .set({ status: 'restored', updated_at: sql<Date>`now()` })
        .where('purchase_key', '=', order.purchaseKey)
        .where('kind', '=', 'revocation')
        .where('status', '<>', 'restored')
        .execute();
      const { previous, status } = await reconcileOrderEntitlements(trx, order.id);
      if (status === 'revoked' || status === 'suspended') throw new RestoreRefused(status);
      const job = await trx
        .selectFrom('fulfillment_jobs')
        .select(['id', 'completed_at'])
        .where('order_id', '=', order.id)
        .executeTakeFirst();
      if (job?.completed_at && previous.includes('revoked')) {
        await transitionJob(
          trx,
          job.id,
          'completed',
          { step: 'operator_restore', operator: act.operator },
          { restore: true },
        );
      }
      await recordAudit(trx, {
        actor: act.operator,
        action: 'entitlement.restored',
        target: order.id,
        reason: act.reason,
        detail: { purchaseKey: order.purchaseKey, previous, status, role: act.role },
      });
      return { refused: false as const, previous, status };
    });
  } catch (error) {
    if (error instanceof RestoreRefused) return { refused: true, status: error.status };
    throw error;
  }
}

export async function listOrderEntitlementIds(db: DbExecutor, orderId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('entitlements')
    .select('id')
    .where('order_id', '=', orderId)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * An operator's resend of an order's links, in one transaction under the purchase lock: takes
 * the next resend number, records the audit entry, then calls `startResend` with the number —
 * still inside the transaction, so a failed start rolls the audit row back and a retry reuses
 * the number.
 */
export async function recordOperatorResend(
  db: Db,
  order: { id: string; purchaseKey: string },
  act: OperatorAct & { recipient: string },
  startResend: (sequence: number) => Promise<unknown>,
): Promise<{ sequence: number; workflowId: string }> {
  return db.transaction().execute(async (trx) => {
    // Serialises operator resends of one order, so two at once get different numbers.
    await lockPurchase(trx, order.purchaseKey);
    const counts = await trx
      .selectFrom('email_deliveries')
      .select((eb) => eb.fn.countAll<string>().as('sent'))
      .where('order_id', '=', order.id)
      .where('kind', '=', 'resend')
      .executeTakeFirstOrThrow();
    const audited = await trx
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll<string>().as('resends'))
      .where('target', '=', order.id)
      .where('action', '=', 'links.resent')
      .executeTakeFirstOrThrow();
    const sequence = Math.max(Number(counts.sent), Number(audited.resends)) + 1;
    const workflowId = resendWorkflowId(order.id, sequence);
    await recordAudit(trx, {
      actor: act.operator,
      action: 'links.resent',
      target: order.id,
      reason: act.reason,
      detail: { workflowId, sequence, recipient: act.recipient, role: act.role },
    });
    // Last: the email goes out only once its audit row is written (a failed start rolls the
    // row back, and a retry reuses the same sequence, so one resend per request).
    await startResend(sequence);
    return { sequence, workflowId };
  });
}
