import { sql, type RawBuilder } from 'kysely';
import {
  FULFILLMENT_STATUSES,
  type ActivatedEntitlements,
  type EntitlementStatus,
  type FulfillmentStatus,
} from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import type { NewAnalyticsEvent } from '../tables/analytics-events.ts';
import type { FulfillmentJob } from '../tables/fulfillment-jobs.ts';
import {
  deriveEntitlementStatus,
  lockPurchase,
  productRevokedInForce,
  type EntitlementFacts,
} from './entitlements.ts';

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

/** One status change of a job and what its event-log row says about it. */
export interface JobChange {
  status: FulfillmentStatus;
  detail: Record<string, unknown> | null;
}

/**
 * The CTEs that move a job, for one statement: `job_locked` waits for the job's row lock (so it
 * reads the latest committed status, whatever the statement's snapshot), `job_moved` updates
 * the row — to the last change's status when `mayTransition` allows it — and `job_logged`
 * appends one event per change, only when the job moved. The statement may add its own CTEs
 * after these and read `job_moved` (the row as it is afterwards, with `moved`).
 */
function jobTransitionCtes(
  jobId: string,
  changes: readonly [JobChange, ...JobChange[]],
  { restore = false, lastError }: { restore?: boolean; lastError?: string } = {},
): RawBuilder<unknown> {
  const to = changes.at(-1)!.status;
  const allowedFrom = FULFILLMENT_STATUSES.filter((from) => mayTransition(from, to, restore));
  const moves = sql`job_locked.status = any(${allowedFrom}::text[])`;
  const events = changes.map(
    (change, index) =>
      sql`(${index}::int, ${change.status}::text, ${change.detail ? JSON.stringify(change.detail) : null}::jsonb)`,
  );
  return sql`job_locked as (
      select id, status from fulfillment_jobs where id = ${jobId} for update
    ),
    job_moved as (
      update fulfillment_jobs as job
         set status = case when ${moves} then ${to} else job.status end,
             updated_at = case when ${moves} then now() else job.updated_at end,
             completed_at = case when ${moves} and ${to} = 'completed'
                                 then coalesce(job.completed_at, now()) else job.completed_at end,
             last_error = ${lastError === undefined ? sql`job.last_error` : sql`${lastError}`}
        from job_locked
       where job.id = job_locked.id
      returning job.*, ${moves} as moved
    ),
    job_logged as (
      insert into fulfillment_job_events (job_id, status, detail)
      select job_moved.id, change.status, change.detail
        from job_moved, (values ${sql.join(events)}) as change (position, status, detail)
       where job_moved.moved
       order by change.position
    )`;
}

/**
 * Moves a job to `status` and appends the change to `fulfillment_job_events`, in one statement
 * (inside the caller's transaction, or on its own). Returns the job as it is afterwards
 * (unchanged when the move is not allowed). `lastError` also records the job's last error.
 */
export async function transitionJob(
  db: DbExecutor,
  jobId: string,
  status: FulfillmentStatus,
  detail: Record<string, unknown> | null = null,
  options: { restore?: boolean; lastError?: string } = {},
): Promise<FulfillmentJob> {
  const {
    rows: [job],
  } = await sql<FulfillmentJob>`
    with ${jobTransitionCtes(jobId, [{ status, detail }], options)}
    select id, order_id, workflow_id, status, last_error, created_at, updated_at, completed_at
      from job_moved`.execute(db);
  if (!job) throw new Error(`fulfillment job ${jobId} does not exist`);
  return job;
}

/**
 * Activates the order's entitlements once its files are in storage, and moves the job on, in
 * one transaction under the purchase's lock (a refund or dispute recorded meanwhile is never
 * missed): the entitlements take the status their facts dictate — `pending_claim` or
 * `active`, or `revoked` / `suspended` after a refund or dispute — and the job logs
 * `pending_entitlement` (the files are there) then moves to `pending_email`, or to `revoked`.
 * Each entitlement it makes usable gets its `entitlement.granted` audit row in the same
 * statement. Four round trips after BEGIN: the lock, the facts, the change, COMMIT.
 */
export async function activateOrderEntitlements(
  db: Db,
  job: { jobId: string; orderId: string; purchaseKey: string },
  /** The storage check this step made (null: an earlier step made and logged it). */
  verified: { files: number } | null,
): Promise<ActivatedEntitlements> {
  return db.transaction().execute(async (trx) => {
    await lockPurchase(trx, job.purchaseKey);
    const {
      rows: [facts],
    } = await sql<{
      statuses: EntitlementStatus[];
      claimed: boolean;
      adjustments: EntitlementFacts['adjustments'];
    }>`
      with activated as (
        update entitlements set activated_at = now()
         where order_id = ${job.orderId} and activated_at is null
      )
      select
        array(select status from entitlements where order_id = ${job.orderId}) as statuses,
        (select customers.auth_user_id is not null
           from orders join customers on customers.id = orders.customer_id
          where orders.id = ${job.orderId}) as claimed,
        (select coalesce(json_agg(json_build_object('kind', kind, 'full', "full", 'status', status)), '[]')
           from payment_adjustments where purchase_key = ${job.purchaseKey}) as adjustments`.execute(
      trx,
    );
    // Every entitlement of the order is activated by the statement above.
    const entitlementStatus = deriveEntitlementStatus({
      activated: facts!.statuses.length > 0,
      claimed: facts!.claimed,
      adjustments: facts!.adjustments,
    });
    const activation: JobChange = {
      status: entitlementStatus === 'revoked' ? 'revoked' : 'pending_email',
      detail: { step: 'activate_entitlements', entitlementStatus },
    };
    const changes: [JobChange, ...JobChange[]] =
      verified && activation.status === 'pending_email'
        ? [
            { status: 'pending_entitlement', detail: { step: 'verify_assets', ...verified } },
            activation,
          ]
        : [activation];
    const {
      rows: [moved],
    } = await sql<{ status: FulfillmentStatus }>`
      with ${jobTransitionCtes(job.jobId, changes)},
      reconciled as (
        update entitlements set status = ${entitlementStatus}, updated_at = now()
         where order_id = ${job.orderId} and status <> ${entitlementStatus}
           and not ${productRevokedInForce}
      ),
      -- The grant, once per entitlement: only the call that moves it to a usable status writes
      -- it (the CTE reads the statuses from before the update above).
      granted as (
        insert into audit_log (actor, action, target, detail)
        select 'system', 'entitlement.granted', entitlements.id::text,
               jsonb_build_object('cause', case o.source when 'stripe' then 'payment' else o.source end,
                                  'orderId', o.id, 'purchaseKey', o.purchase_key,
                                  'productId', entitlements.product_id, 'previous', entitlements.status,
                                  'status', ${entitlementStatus}::text)
          from entitlements join orders o on o.id = entitlements.order_id
         where entitlements.order_id = ${job.orderId} and entitlements.status <> ${entitlementStatus}
           and ${entitlementStatus}::text in ('active', 'pending_claim')
           and not ${productRevokedInForce}
      )
      select status from job_moved`.execute(trx);
    return { status: moved!.status, entitlementStatus };
  });
}

/**
 * Records that an order was delivered, in one statement: the receipt `sent` in the ledger
 * (when this attempt sent it), the analytics events (each key once; the new ones queued for
 * export when `analytics.exportTopic` is set), and the job `completed`
 * (a job revoked meanwhile stays revoked). Returns the job's status afterwards and, when this
 * call marked the receipt sent, when that was.
 */
export async function completeOrderDelivery(
  db: DbExecutor,
  {
    jobId,
    idempotencyKey,
    sent,
    analytics,
  }: {
    jobId: string;
    idempotencyKey: string;
    /** The provider accepted the receipt in this attempt; null when it was sent before. */
    sent: { driver: string; providerMessageId: string | null } | null;
    /**
     * The events (each key once) and, when the analytics sink exports them, the outbox topic
     * the newly recorded ones are queued on as one batch (`recordAnalyticsEventsForExport`'s
     * message, in this statement).
     */
    analytics: { events: NewAnalyticsEvent[]; exportTopic: string | null };
  },
): Promise<{ status: FulfillmentStatus; sentAt: Date | null }> {
  const events = analytics.events.map(
    (event) =>
      sql`(${event.event_key}, ${event.name}, ${event.order_id ?? null}::uuid, ${event.customer_id ?? null}::uuid, ${event.entitlement_id ?? null}::uuid, ${event.product_id ?? null}::uuid, ${event.properties ?? null}::jsonb)`,
  );
  // The events newly recorded, as one outbox batch in the shape `recordAnalyticsEventsForExport`
  // queues (the rows as JSON); nothing is queued when every key was recorded before.
  const queueForExport = analytics.exportTopic
    ? sql`,
    queued_analytics as (
      insert into outbox_messages (topic, payload)
      select ${analytics.exportTopic},
             jsonb_build_object('events',
               jsonb_agg(to_jsonb(r) || jsonb_build_object('id', r.id::text) order by r.id))
        from recorded_analytics r
      having count(*) > 0
    )`
    : sql``;
  const recordAnalytics =
    events.length > 0
      ? sql`,
    recorded_analytics as (
      insert into analytics_events (event_key, name, order_id, customer_id, entitlement_id,
                                    product_id, properties)
      values ${sql.join(events)}
      on conflict (event_key) do nothing
      returning *
    )${queueForExport}`
      : sql``;
  const {
    rows: [row],
  } = await sql<{ status: FulfillmentStatus; sent_at: Date | null }>`
    with ${jobTransitionCtes(jobId, [{ status: 'completed', detail: { step: 'complete' } }])},
    marked as (
      update email_deliveries
         set status = 'sent', driver = ${sent?.driver ?? null},
             provider_message_id = ${sent?.providerMessageId ?? null},
             sent_at = now(), updated_at = now(), last_error = null
       where idempotency_key = ${idempotencyKey} and ${sent !== null}
      returning sent_at
    )${recordAnalytics}
    select job_moved.status, (select sent_at from marked) as sent_at from job_moved`.execute(db);
  if (!row) throw new Error(`fulfillment job ${jobId} does not exist`);
  return { status: row.status, sentAt: row.sent_at };
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

/** The purchase key of an order (the advisory lock's key). */
export async function findOrderPurchaseKey(db: DbExecutor, orderId: string): Promise<string> {
  const { purchase_key } = await db
    .selectFrom('orders')
    .select('purchase_key')
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  return purchase_key;
}
