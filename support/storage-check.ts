import { recordAudit } from '../db/queries/audit.ts';
import { productStoragePath } from '../db/queries/products.ts';
import { insertTemporaryLink, revokeTemporaryLink } from '../db/queries/temporary-links.ts';
import { createTemporaryDownloadToken } from '../security/download-links.ts';
import { entitlementForLink } from './download-links.ts';
import { requireReason, type Authorship, type OperationsDeps } from './context.ts';

/** The test download's link lives minutes: long enough for the click, revoked right after. */
const TEST_LINK_MINUTES = 5;
/** A test download that takes longer than this is reported as a timeout, not waited on. */
const TEST_DOWNLOAD_TIMEOUT_MS = 30_000;

export interface StorageCheck {
  entitlementId: string;
  status: string;
  files: {
    format: 'pdf' | 'epub';
    key: string;
    exists: boolean;
    /** What the test download answered: the final HTTP status (after redirects), or an error. */
    download: { status: number | null; bytes: number | null; error: string | null };
  }[];
}

/**
 * Support's "Failed download" check for one entitlement: whether each of its files exists in
 * storage, and a test download of each through the buyer's own path — a minutes-long temporary
 * link to `GET /downloads/<token>` on the api (`publicBaseUrl`), following the redirect to
 * storage, so its size is what a buyer would get. No buyer JWT is involved. Audited
 * (`storage.checked`, with the results); the test click counts as a download like any click.
 */
export async function checkEntitlementStorage(
  deps: OperationsDeps,
  entitlementId: string,
  who: Authorship,
): Promise<StorageCheck> {
  requireReason(who);
  const { links, entitlement } = await entitlementForLink(deps, entitlementId);
  const act = { operator: who.operator.name, role: who.operator.role, reason: who.reason };
  const expiresAt = new Date(Date.now() + TEST_LINK_MINUTES * 60_000);
  const linkId = await insertTemporaryLink(deps.db, { entitlementId, expiresAt }, act);
  const { publicBaseUrl, secrets } = links;
  try {
    const files = await Promise.all(
      entitlement.formats.map(async (format) => {
        const key = productStoragePath(entitlement, format);
        const exists = await deps.storage.exists(key);
        const token = createTemporaryDownloadToken({ linkId, format, expiresAt }, secrets);
        return {
          format,
          key,
          exists,
          download: await testDownload(`${publicBaseUrl}/downloads/${token}`),
        };
      }),
    );
    const check = { entitlementId, status: entitlement.status, files };
    await recordAudit(deps.db, {
      actor: act.operator,
      action: 'storage.checked',
      target: entitlementId,
      reason: act.reason,
      detail: { files, role: act.role },
    });
    return check;
  } finally {
    await revokeTemporaryLink(deps.db, linkId, act);
  }
}

async function testDownload(url: string): Promise<StorageCheck['files'][number]['download']> {
  try {
    const response = await fetch(url, {
      redirect: 'follow',
      signal: AbortSignal.timeout(TEST_DOWNLOAD_TIMEOUT_MS),
    });
    const body = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, bytes: response.ok ? body.byteLength : null, error: null };
  } catch (error) {
    return {
      status: null,
      bytes: null,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}
