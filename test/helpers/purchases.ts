import type { Client } from '@temporalio/client';
import { waitFor } from '../../stack/processes.ts';
import {
  fulfillmentStatusQuery,
  fulfillmentWorkflowId,
  type FulfillmentState,
} from '../../workflows/contracts.ts';
import type { Db } from '../../db/database.ts';

/** Everything a purchase left in the database, as support would look it up. */
export async function purchaseRows(db: Db, purchaseKey: string) {
  const orders = await db
    .selectFrom('orders')
    .selectAll()
    .where('purchase_key', '=', purchaseKey)
    .execute();
  const orderIds = orders.map((o) => o.id);
  const adjustments = await db
    .selectFrom('payment_adjustments')
    .selectAll()
    .where('purchase_key', '=', purchaseKey)
    .execute();
  if (orderIds.length === 0) {
    return { orders, adjustments, entitlements: [], emails: [], jobs: [], jobEvents: [] };
  }
  const entitlements = await db
    .selectFrom('entitlements')
    .selectAll()
    .where('order_id', 'in', orderIds)
    .execute();
  const emails = await db
    .selectFrom('email_deliveries')
    .selectAll()
    .where('order_id', 'in', orderIds)
    .orderBy('created_at')
    .execute();
  const jobs = await db
    .selectFrom('fulfillment_jobs')
    .selectAll()
    .where('order_id', 'in', orderIds)
    .execute();
  const jobEvents = jobs.length
    ? await db
        .selectFrom('fulfillment_job_events')
        .select(['status'])
        .where(
          'job_id',
          'in',
          jobs.map((j) => j.id),
        )
        .orderBy('id')
        .execute()
    : [];
  return { orders, adjustments, entitlements, emails, jobs, jobEvents };
}

export type PurchaseRows = Awaited<ReturnType<typeof purchaseRows>>;

export const emailKinds = (rows: PurchaseRows): string[] => rows.emails.map((e) => e.kind).sort();
export const entitlementStatuses = (rows: PurchaseRows): string[] =>
  [...new Set(rows.entitlements.map((e) => e.status))].sort();

/**
 * Waits until the purchase's fulfillment has done its steps (it is reminding, or done). The
 * run itself stays open for its reminder timers, so tests wait on the workflow's `status`
 * query rather than on its result.
 */
export async function settledFulfillment(
  temporal: Client,
  purchaseKey: string,
  timeoutMs = 30_000,
): Promise<FulfillmentState> {
  const handle = temporal.workflow.getHandle(fulfillmentWorkflowId(purchaseKey));
  let state: FulfillmentState | null = null;
  await waitFor(
    `fulfillment of ${purchaseKey} settled`,
    async () => {
      state = await handle.query(fulfillmentStatusQuery);
      return state.phase !== 'fulfilling';
    },
    { timeoutMs, intervalMs: 100 },
  );
  return state!;
}
