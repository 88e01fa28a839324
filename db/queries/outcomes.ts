// Counts and reads that the benchmarks (bench/) and the chaos scenarios (chaos/) check a
// run's outcome with: what purchases left behind, from the outside, after the fact. Nothing
// the service itself runs calls these.
import { sql } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';

/** `column = any($1)`: one array parameter however many keys (an IN list stops at 65 535). */
const isAnyOf = (column: string, values: readonly string[]) =>
  sql<boolean>`${sql.ref(column)} = any(${values}::text[])`;

/** A timestamp column as epoch milliseconds with its microseconds (a Date keeps whole ms). */
const epochMs = (column: string) =>
  sql<number | null>`(extract(epoch from ${sql.ref(column)}) * 1000)::float8`;

/** Per purchase key: orders, entitlements, email rows and the job's status. */
export interface PurchaseTally {
  orders: number;
  entitlements: number;
  entitlementStatuses: string[];
  emailKinds: string[];
  emailKeys: string[];
  unsentEmails: number;
  jobStatuses: string[];
}

/** What the purchases left in the database, one tally per purchase key (missing ones empty). */
export async function tallyPurchases(
  db: DbExecutor,
  purchaseKeys: readonly string[],
): Promise<Map<string, PurchaseTally>> {
  const tallies = new Map<string, PurchaseTally>(
    purchaseKeys.map((key) => [
      key,
      {
        orders: 0,
        entitlements: 0,
        entitlementStatuses: [],
        emailKinds: [],
        emailKeys: [],
        unsentEmails: 0,
        jobStatuses: [],
      },
    ]),
  );
  const orders = await db
    .selectFrom('orders')
    .select(['id', 'purchase_key'])
    .where(isAnyOf('orders.purchase_key', purchaseKeys))
    .execute();
  const byOrder = new Map(orders.map((order) => [order.id, order.purchase_key]));
  for (const order of orders) tallies.get(order.purchase_key)!.orders += 1;
  if (orders.length === 0) return tallies;
  const orderIds = orders.map((order) => order.id);
  const tallyOf = (orderId: string) => tallies.get(byOrder.get(orderId)!)!;
  for (const row of await db
    .selectFrom('entitlements')
    .select(['order_id', 'status'])
    .where('order_id', 'in', orderIds)
    .execute()) {
    const tally = tallyOf(row.order_id);
    tally.entitlements += 1;
    if (!tally.entitlementStatuses.includes(row.status)) tally.entitlementStatuses.push(row.status);
  }
  for (const row of await db
    .selectFrom('email_deliveries')
    .select(['order_id', 'kind', 'status', 'idempotency_key'])
    .where('order_id', 'in', orderIds)
    .execute()) {
    if (row.order_id === null) continue;
    const tally = tallyOf(row.order_id);
    tally.emailKinds.push(row.kind);
    tally.emailKeys.push(row.idempotency_key);
    if (row.status !== 'sent') tally.unsentEmails += 1;
  }
  for (const row of await db
    .selectFrom('fulfillment_jobs')
    .select(['order_id', 'status'])
    .where('order_id', 'in', orderIds)
    .execute()) {
    tallyOf(row.order_id).jobStatuses.push(row.status);
  }
  for (const tally of tallies.values()) tally.emailKinds.sort();
  return tallies;
}

/** How many alerts of `kind` were raised. */
export async function countAlerts(db: DbExecutor, kind: string): Promise<number> {
  const row = await db
    .selectFrom('alerts')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('kind', '=', kind)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** How many jobs were in `status` at some point (their history, not where they are now). */
export async function countJobsEverIn(db: DbExecutor, status: FulfillmentStatus): Promise<number> {
  const row = await db
    .selectFrom('fulfillment_job_events')
    .select(sql<string>`count(distinct job_id)`.as('count'))
    .where('status', '=', status)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Every job not completed: its status and the reason it records. */
export async function listUnfinishedJobs(
  db: DbExecutor,
): Promise<{ status: FulfillmentStatus; last_error: string | null }[]> {
  return db
    .selectFrom('fulfillment_jobs')
    .select(['status', 'last_error'])
    .where('status', '!=', 'completed')
    .execute();
}

/** Jobs per status, in status order. */
export async function countJobsByStatus(
  db: DbExecutor,
): Promise<{ status: FulfillmentStatus; jobs: number }[]> {
  const rows = await db
    .selectFrom('fulfillment_jobs')
    .select((eb) => ['status', eb.fn.countAll<string>().as('jobs')])
    .groupBy('status')
    .orderBy('status')
    .execute();
  return rows.map((row) => ({ status: row.status, jobs: Number(row.jobs) }));
}

/** Jobs completed since `since` (their row created then or later). */
export async function countJobsCompletedSince(db: DbExecutor, since: Date): Promise<number> {
  const row = await db
    .selectFrom('fulfillment_jobs')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('status', '=', 'completed')
    .where(sql<boolean>`created_at >= ${since}`)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** When each of these jobs completed (epoch ms), for the ones that have. */
export async function listJobCompletions(
  db: DbExecutor,
  workflowIds: readonly string[],
): Promise<{ workflowId: string; completedAtMs: number | null }[]> {
  const rows = await db
    .selectFrom('fulfillment_jobs')
    .select(['workflow_id', epochMs('completed_at').as('completedAt')])
    .where(isAnyOf('workflow_id', workflowIds))
    .where('completed_at', 'is not', null)
    .execute();
  return rows.map((row) => ({ workflowId: row.workflow_id, completedAtMs: row.completedAt }));
}

/** The ledger status of the email with this idempotency key, or null when it has no row. */
export async function findEmailDeliveryStatus(
  db: DbExecutor,
  idempotencyKey: string,
): Promise<string | null> {
  const row = await db
    .selectFrom('email_deliveries')
    .select('status')
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
  return row?.status ?? null;
}

/** Orders of these purchases whose delivery email (`delivery:<orderId>:1`) was recorded sent. */
function deliveredOrders(db: DbExecutor, purchaseKeys: readonly string[]) {
  return db
    .selectFrom('orders')
    .innerJoin('email_deliveries', (join) =>
      join.on(
        'email_deliveries.idempotency_key',
        '=',
        sql<string>`'delivery:' || ${sql.ref('orders.id')} || ':1'`,
      ),
    )
    .where(isAnyOf('orders.purchase_key', purchaseKeys))
    .where('email_deliveries.sent_at', 'is not', null);
}

/** How many of these purchases have their delivery email recorded sent. */
export async function countDeliveredPurchases(
  db: DbExecutor,
  purchaseKeys: readonly string[],
): Promise<number> {
  const row = await deliveredOrders(db, purchaseKeys)
    .select((eb) => eb.fn.countAll<string>().as('delivered'))
    .executeTakeFirstOrThrow();
  return Number(row.delivered);
}

/** When each purchase's delivery email was recorded sent (epoch ms, the database's clock). */
export async function listDeliveryEmailSentTimes(
  db: DbExecutor,
  purchaseKeys: readonly string[],
): Promise<{ purchaseKey: string; sentAtMs: number | null }[]> {
  const rows = await deliveredOrders(db, purchaseKeys)
    .select(['orders.purchase_key', epochMs('email_deliveries.sent_at').as('sentAt')])
    .execute();
  return rows.map((row) => ({ purchaseKey: row.purchase_key, sentAtMs: row.sentAt }));
}

/**
 * When the inbox recorded each of these Stripe events: `received_at`, set by the api's first
 * write, before anything else happens to the event (epoch ms, the database's clock).
 */
export async function listStripeEventReceivedTimes(
  db: DbExecutor,
  eventIds: readonly string[],
): Promise<{ eventId: string; receivedAtMs: number | null }[]> {
  const rows = await db
    .selectFrom('webhook_events')
    .select(['event_id', epochMs('received_at').as('receivedAt')])
    .where('provider', '=', 'stripe')
    .where(isAnyOf('event_id', eventIds))
    .execute();
  return rows.map((row) => ({ eventId: row.event_id, receivedAtMs: row.receivedAt }));
}

/** Which of these event ids the inbox holds (any provider). */
export async function listRecordedEventIds(
  db: DbExecutor,
  eventIds: readonly string[],
): Promise<string[]> {
  const rows = await db
    .selectFrom('webhook_events')
    .select('event_id')
    .where(isAnyOf('event_id', eventIds))
    .execute();
  return rows.map((row) => row.event_id);
}

/** Every event in the inbox, of any provider and result. */
export async function countWebhookEvents(db: DbExecutor): Promise<number> {
  const row = await db
    .selectFrom('webhook_events')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
