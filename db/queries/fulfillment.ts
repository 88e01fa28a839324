import { sql } from 'kysely';
import type { ActivatedEntitlements, FulfillmentStatus } from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import type { FulfillmentJob } from '../tables/fulfillment-jobs.ts';
import { lockPurchase, reconcileOrderEntitlements } from './entitlements.ts';

/**
 * States only move forward: a completed job can still be revoked, a revoked one moves only by
 * an explicit restore (a won dispute), and a late or repeated step changes nothing.
 */
function mayTransition(from: FulfillmentStatus, to: FulfillmentStatus, restore: boolean): boolean {
  if (from === to) return false;
  if (from === 'revoked') return restore;
  if (from === 'completed') return to === 'revoked';
  return true;
}

/**
 * Moves a job to `status` and appends the change to `fulfillment_job_events`, both inside the
 * caller's transaction. Returns the job as it is afterwards (unchanged when not allowed).
 */
export async function transitionJob(
  trx: DbExecutor,
  jobId: string,
  status: FulfillmentStatus,
  detail: Record<string, unknown> | null = null,
  { restore = false }: { restore?: boolean } = {},
): Promise<FulfillmentJob> {
  const job = await trx
    .selectFrom('fulfillment_jobs')
    .selectAll()
    .where('id', '=', jobId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (!mayTransition(job.status, status, restore)) return job;
  const updated = await trx
    .updateTable('fulfillment_jobs')
    .set({
      status,
      updated_at: sql<Date>`now()`,
      completed_at:
        status === 'completed' && !job.completed_at ? sql<Date>`now()` : job.completed_at,
    })
    .where('id', '=', jobId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .insertInto('fulfillment_job_events')
    .values({ job_id: jobId, status, detail: detail ? JSON.stringify(detail) : null })
    .execute();
  return updated;
}

/** `transitionJob` in a transaction of its own. */
export async function transitionJobInTransaction(
  db: Db,
  jobId: string,
  status: FulfillmentStatus,
  detail: Record<string, unknown> | null = null,
): Promise<FulfillmentJob> {
  return db.transaction().execute(async (trx) => transitionJob(trx, jobId, status, detail));
}

/**
 * Moves a job to `status` and records `lastError` as its last error, in one transaction (the
 * step keeps failing, or needs attention).
 */
export async function transitionJobWithError(
  db: Db,
  jobId: string,
  status: FulfillmentStatus,
  detail: Record<string, unknown>,
  lastError: string,
): Promise<FulfillmentJob> {
  return db.transaction().execute(async (trx) => {
    const job = await transitionJob(trx, jobId, status, detail);
    await trx
      .updateTable('fulfillment_jobs')
      .set({ last_error: lastError })
      .where('id', '=', jobId)
      .execute();
    return job;
  });
}

/** The products an order delivers: where their files live (see `productStoragePath`). */
export async function listOrderProducts(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select(['products.sku', 'products.slug', 'products.version', 'products.formats'])
    .where('entitlements.order_id', '=', orderId)
    .execute();
}

/**
 * Activates the order's entitlements under the purchase's lock and moves the job on, in one
 * transaction: `pending_email`, or `revoked` when a refund or dispute revoked them.
 */
export async function activateOrderEntitlements(
  db: Db,
  jobId: string,
  orderId: string,
): Promise<ActivatedEntitlements> {
  return db.transaction().execute(async (trx) => {
    const { purchase_key } = await trx
      .selectFrom('orders')
      .select('purchase_key')
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    await lockPurchase(trx, purchase_key);
    const { status: entitlementStatus } = await reconcileOrderEntitlements(trx, orderId, {
      activate: true,
    });
    const next: FulfillmentStatus = entitlementStatus === 'revoked' ? 'revoked' : 'pending_email';
    const job = await transitionJob(trx, jobId, next, {
      step: 'activate_entitlements',
      entitlementStatus,
    });
    return { status: job.status, entitlementStatus };
  });
}
