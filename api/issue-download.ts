import type { FastifyRequest } from 'fastify';
import type { StorageDriver } from '../drivers/storage/driver.ts';
import { tableAnalyticsSink, type AnalyticsSink } from '../drivers/analytics/index.ts';
import type { Db } from '../db/database.ts';
import { findEntitlementForAnalytics } from '../db/queries/analytics.ts';
import { recordAudit } from '../db/queries/audit.ts';
import { insertDownloadEvent, markEntitlementDownloaded } from '../db/queries/downloads.ts';
import { downloads } from '../observability/metrics.ts';
import { productStoragePath } from '../db/queries/products.ts';
import { DOWNLOADABLE } from '../db/queries/shelf.ts';
import type { EntitlementStatus } from '../workflows/contracts.ts';

/** The storage URL a download gets lives about a minute: long enough to start, not to share. */
export const STORAGE_URL_TTL_SECONDS = 60;

export interface DownloadTarget {
  id: string;
  status: EntitlementStatus;
  slug: string;
  version: string;
}

export type IssuedDownload = { ok: true; url: string } | { ok: false; status: EntitlementStatus };

/**
 * One download, from an emailed link or the storefront: checks the entitlement's status now,
 * logs the attempt in `download_events` (who, when, from where — dispute evidence) and audits
 * it (`download.issued` or `download.denied`), and on
 * success records `last_download_at`, signs a storage URL and emits `entitlement.download`
 * (customer, order, entitlement and product) through the analytics sink. Counted in
 * `downloads_total` (issued or refused; the routes count a 5xx as failed).
 */
export async function issueDownload(
  {
    db,
    storage,
    analytics = tableAnalyticsSink,
  }: { db: Db; storage: StorageDriver; analytics?: AnalyticsSink | undefined },
  target: DownloadTarget,
  format: 'pdf' | 'epub',
  request: FastifyRequest,
  source: 'email_link' | 'api',
): Promise<IssuedDownload> {
  const usable = DOWNLOADABLE.includes(target.status);
  await insertDownloadEvent(db, {
    entitlement_id: target.id,
    format,
    source,
    outcome: usable ? 'issued' : target.status,
    ip: request.ip,
    user_agent: request.headers['user-agent'] ?? null,
  });
  // The audit trail of every download (docs/AUDIT.md): issued or denied, who asked and from where.
  await recordAudit(db, {
    actor: 'buyer',
    action: usable ? 'download.issued' : 'download.denied',
    target: target.id,
    requestId: request.id,
    detail: {
      format,
      via: source,
      status: target.status,
      ip: request.ip,
      userAgent: request.headers['user-agent'] ?? null,
    },
  });
  if (!usable) {
    downloads.inc({ source, outcome: 'refused' });
    return { ok: false, status: target.status };
  }
  await markEntitlementDownloaded(db, target.id);
  const url = await storage.signedUrl(productStoragePath(target, format), {
    expiresInSeconds: STORAGE_URL_TTL_SECONDS,
    downloadName: `${target.slug}-${target.version}.${format}`,
  });
  const about = await findEntitlementForAnalytics(db, target.id);
  await analytics.record(db, [
    {
      // Every click is an event of its own.
      key: `entitlement.download:${target.id}:${request.id}:${Date.now()}`,
      name: 'entitlement.download',
      customerId: about?.customer_id ?? null,
      orderId: about?.order_id ?? null,
      entitlementId: target.id,
      productId: about?.product_id ?? null,
      properties: { format, source, sku: about?.sku ?? null },
    },
  ]);
  downloads.inc({ source, outcome: 'issued' });
  return { ok: true, url };
}
