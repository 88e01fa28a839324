import { sql } from 'kysely';
import type { Db, DbExecutor } from '../database.ts';
import { recordAudit } from './audit.ts';
import type { LinkedEntitlement } from './downloads.ts';

/** Records a temporary link and its audit entry in one transaction; returns the link's id. */
export async function insertTemporaryLink(
  db: Db,
  link: { entitlementId: string; expiresAt: Date },
  act: { operator: string; role: string; reason: string },
): Promise<string> {
  return db.transaction().execute(async (trx) => {
    const { id } = await trx
      .insertInto('temporary_download_links')
      .values({
        entitlement_id: link.entitlementId,
        expires_at: link.expiresAt,
        created_by: act.operator,
        revoked_at: null,
        revoked_by: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordAudit(trx, {
      actor: act.operator,
      action: 'download_link.issued',
      target: link.entitlementId,
      reason: act.reason,
      detail: { linkId: id, expiresAt: link.expiresAt.toISOString(), role: act.role },
    });
    return id;
  });
}

/**
 * Revokes a temporary link (its next click is refused) and audits it, in one transaction.
 * Undefined when no such link exists; revoking again keeps the first revocation.
 */
export async function revokeTemporaryLink(
  db: Db,
  linkId: string,
  act: { operator: string; role: string; reason: string },
): Promise<{ entitlementId: string; revokedAt: Date } | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('temporary_download_links')
      .set({
        revoked_at: sql<Date>`coalesce(revoked_at, now())`,
        revoked_by: sql<string>`coalesce(revoked_by, ${act.operator})`,
      })
      .where('id', '=', linkId)
      .returning(['entitlement_id', 'revoked_at'])
      .executeTakeFirst();
    if (!row) return undefined;
    await recordAudit(trx, {
      actor: act.operator,
      action: 'download_link.revoked',
      target: row.entitlement_id,
      reason: act.reason,
      detail: { linkId, role: act.role },
    });
    return { entitlementId: row.entitlement_id, revokedAt: row.revoked_at! };
  });
}

/** A temporary link's state and its entitlement with the product, or undefined. */
export async function findTemporaryLink(
  db: DbExecutor,
  linkId: string,
): Promise<
  { expiresAt: Date; revokedAt: Date | null; entitlement: LinkedEntitlement } | undefined
> {
  const row = await db
    .selectFrom('temporary_download_links')
    .innerJoin('entitlements', 'entitlements.id', 'temporary_download_links.entitlement_id')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select([
      'temporary_download_links.expires_at',
      'temporary_download_links.revoked_at',
      'entitlements.id',
      'entitlements.status',
      'products.slug',
      'products.version',
      'products.formats',
    ])
    .where('temporary_download_links.id', '=', linkId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { expires_at, revoked_at, ...entitlement } = row;
  return { expiresAt: expires_at, revokedAt: revoked_at, entitlement };
}
