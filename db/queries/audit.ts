import { sql } from 'kysely';
import type { AuditAction } from '../audit-actions.ts';
import type { DbExecutor } from '../database.ts';

export interface AuditRecord {
  actor: string;
  /** One of AUDIT_ACTIONS (db/audit-actions.ts; documented in docs/AUDIT.md). */
  action: AuditAction;
  target?: string | null;
  reason?: string | null;
  detail?: Record<string, unknown> | null;
  requestId?: string | null;
}

/** Appends to `audit_log`; pass a transaction to make the entry part of the change it records. */
export async function recordAudit(db: DbExecutor, entry: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      reason: entry.reason ?? null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
      request_id: entry.requestId ?? null,
    })
    .execute();
}

export interface AuditListFilter {
  action?: AuditAction | undefined;
  actor?: string | undefined;
  since?: Date | undefined;
  /** Rows about any of these targets (an order's id, purchase key, job and entitlements). */
  targets?: string[] | undefined;
  /** Rows whose detail names this order (`detail.orderId`), besides `targets`. */
  orderId?: string | undefined;
  /** Keyset pagination: rows with an id below this one (newest first). */
  beforeId?: string | undefined;
  limit: number;
}

/** Audit rows, newest first. */
export async function listAuditEntries(db: DbExecutor, filter: AuditListFilter) {
  let query = db
    .selectFrom('audit_log')
    .select(['id', 'created_at', 'actor', 'action', 'target', 'reason', 'detail', 'request_id']);
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.actor) query = query.where('actor', '=', filter.actor);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.beforeId) query = query.where(sql<boolean>`id < ${filter.beforeId}::bigint`);
  if (filter.targets) {
    const targets = filter.targets;
    const orderId = filter.orderId;
    query = query.where((eb) =>
      eb.or([
        eb('target', 'in', targets.length > 0 ? targets : ['']),
        ...(orderId ? [eb(sql<string>`detail->>'orderId'`, '=', orderId)] : []),
      ]),
    );
  }
  return query
    .orderBy(sql`id`, 'desc')
    .limit(filter.limit)
    .execute();
}

/** An order's audit targets, found by its id, payment intent or purchase key; null when none. */
export async function findOrderAuditTargets(
  db: DbExecutor,
  ref: string,
): Promise<{ orderId: string; targets: string[] } | null> {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
  const order = await db
    .selectFrom('orders')
    .select(['id', 'purchase_key'])
    .where((eb) =>
      eb.or([
        ...(uuid ? [eb('id', '=', ref)] : []),
        eb('purchase_key', '=', ref),
        eb('payment_intent_id', '=', ref),
      ]),
    )
    .executeTakeFirst();
  if (!order) return null;
  const entitlements = await db
    .selectFrom('entitlements')
    .select('id')
    .where('order_id', '=', order.id)
    .execute();
  const jobs = await db
    .selectFrom('fulfillment_jobs')
    .select('id')
    .where('order_id', '=', order.id)
    .execute();
  return {
    orderId: order.id,
    targets: [
      order.id,
      order.purchase_key,
      ...entitlements.map((e) => e.id),
      ...jobs.map((j) => j.id),
    ],
  };
}
