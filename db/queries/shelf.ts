import { sql } from 'kysely';
import type { EntitlementStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';

export const SHELF_VIEWS = ['all', 'in_progress', 'archived'] as const;
export type ShelfView = (typeof SHELF_VIEWS)[number];

export interface ShelfItem {
  id: string;
  sku: string;
  title: string;
  formats: string[];
  status: EntitlementStatus;
  downloadable: boolean;
  archived: boolean;
  purchasedAt: Date;
  lastDownloadedAt: Date | null;
}

/** Statuses a buyer may download in. `processing` is shown, never downloadable. */
export const DOWNLOADABLE: readonly EntitlementStatus[] = ['active', 'pending_claim'];

function shelfQuery(db: DbExecutor, userId: string) {
  return db
    .selectFrom('entitlements')
    .innerJoin('customers', 'customers.id', 'entitlements.customer_id')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .innerJoin('orders', 'orders.id', 'entitlements.order_id')
    .where('customers.auth_user_id', '=', userId);
}

/**
 * One page of a user's shelf, newest purchase first. `all` is everything not archived,
 * `in_progress` what is still being prepared, `archived` what the user put away.
 */
export async function listShelf(
  db: DbExecutor,
  userId: string,
  { view, limit, offset }: { view: ShelfView; limit: number; offset: number },
): Promise<{ items: ShelfItem[]; hasMore: boolean }> {
  let query = shelfQuery(db, userId);
  if (view === 'archived') query = query.where('entitlements.archived', '=', true);
  else query = query.where('entitlements.archived', '=', false);
  if (view === 'in_progress') query = query.where('entitlements.status', '=', 'processing');
  const rows = await query
    .select([
      'entitlements.id',
      'products.sku',
      'products.title',
      'products.formats',
      'entitlements.status',
      'entitlements.archived',
      'orders.paid_at',
      'entitlements.last_download_at',
    ])
    .orderBy('orders.paid_at', 'desc')
    .orderBy('entitlements.id')
    .limit(limit + 1)
    .offset(offset)
    .execute();
  return {
    hasMore: rows.length > limit,
    items: rows.slice(0, limit).map((row) => ({
      id: row.id,
      sku: row.sku,
      title: row.title,
      formats: row.formats,
      status: row.status,
      downloadable: DOWNLOADABLE.includes(row.status),
      archived: row.archived,
      purchasedAt: row.paid_at,
      lastDownloadedAt: row.last_download_at,
    })),
  };
}

/** The user's own entitlement, or undefined — unknown and someone else's look the same. */
export async function findOwnEntitlement(db: DbExecutor, userId: string, entitlementId: string) {
  return shelfQuery(db, userId)
    .select([
      'entitlements.id',
      'entitlements.order_id',
      'entitlements.status',
      'products.slug',
      'products.version',
      'products.formats',
      'orders.purchase_key',
    ])
    .where('entitlements.id', '=', entitlementId)
    .executeTakeFirst();
}

/** Puts an entitlement away on the shelf (`archived`), or back. */
export async function setEntitlementArchived(
  db: DbExecutor,
  entitlementId: string,
  archived: boolean,
): Promise<void> {
  await db
    .updateTable('entitlements')
    .set({ archived, updated_at: sql<Date>`now()` })
    .where('id', '=', entitlementId)
    .execute();
}

/** How many link resends an order has had: in all, and in the last hour (the buyer's limit). */
export async function countOrderResends(
  db: DbExecutor,
  orderId: string,
): Promise<{ total: number; lastHour: number }> {
  const resends = await db
    .selectFrom('email_deliveries')
    .select((eb) => [
      eb.fn.countAll<string>().as('total'),
      eb.fn
        .countAll<string>()
        .filterWhere('created_at', '>', sql<Date>`now() - interval '1 hour'`)
        .as('lastHour'),
    ])
    .where('order_id', '=', orderId)
    .where('kind', '=', 'resend')
    .executeTakeFirstOrThrow();
  return { total: Number(resends.total), lastHour: Number(resends.lastHour) };
}
