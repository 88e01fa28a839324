import { sql } from 'kysely';
import type { EntitlementStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';
import type { NewDownloadEvent } from '../tables/download-events.ts';
import type { ProductFormat } from '../tables/products.ts';

/** What an emailed download link needs to know about its entitlement, whoever owns it. */
export interface LinkedEntitlement {
  id: string;
  status: EntitlementStatus;
  slug: string;
  version: string;
  formats: ProductFormat[];
}

/** The entitlement a download link names, with its product, or undefined. */
export async function findLinkedEntitlement(
  db: DbExecutor,
  entitlementId: string,
): Promise<LinkedEntitlement | undefined> {
  return db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select([
      'entitlements.id',
      'entitlements.status',
      'products.slug',
      'products.version',
      'products.formats',
    ])
    .where('entitlements.id', '=', entitlementId)
    .executeTakeFirst();
}

/** Logs one download attempt, issued or refused: who, when, from where (dispute evidence). */
export async function insertDownloadEvent(db: DbExecutor, event: NewDownloadEvent): Promise<void> {
  await db.insertInto('download_events').values(event).execute();
}

/** Records `last_download_at` (now) on the entitlement. */
export async function markEntitlementDownloaded(
  db: DbExecutor,
  entitlementId: string,
): Promise<void> {
  await db
    .updateTable('entitlements')
    .set({ last_download_at: sql<Date>`now()` })
    .where('id', '=', entitlementId)
    .execute();
}
