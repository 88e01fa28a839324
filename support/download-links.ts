import { findLinkedEntitlement } from '../db/queries/downloads.ts';
import { DOWNLOADABLE } from '../db/queries/shelf.ts';
import { insertTemporaryLink, revokeTemporaryLink } from '../db/queries/temporary-links.ts';
import { createTemporaryDownloadToken } from '../security/download-links.ts';
import {
  OperationError,
  requireReason,
  UUID,
  type Authorship,
  type OperationsDeps,
} from './context.ts';

/** Seed 000: a temporary link for a blocked mailbox expires in 24 h unless support says else. */
export const TEMPORARY_LINK_DEFAULT_HOURS = 24;
/** A week at most: longer, and it is a permanent link that someone forgot to revoke. */
export const TEMPORARY_LINK_MAX_HOURS = 7 * 24;

export interface TemporaryLink {
  linkId: string;
  entitlementId: string;
  expiresAt: Date;
  /** One URL per format, to pass on to the buyer: `/downloads/<token>`, like an emailed link. */
  urls: { format: 'pdf' | 'epub'; url: string }[];
}

/**
 * The entitlement a support link is made for, and the link signing it needs: refused when
 * DOWNLOAD_TOKEN_SECRETS is not configured, the id is no uuid, or no such entitlement exists.
 */
export async function entitlementForLink(deps: OperationsDeps, entitlementId: string) {
  const links = deps.links;
  if (!links)
    throw new OperationError(
      'conflict',
      'download links are not configured (DOWNLOAD_TOKEN_SECRETS)',
    );
  if (!UUID.test(entitlementId))
    throw new OperationError('invalid', 'entitlement: an entitlement id (uuid)');
  const entitlement = await findLinkedEntitlement(deps.db, entitlementId);
  if (!entitlement) throw new OperationError('not_found', `no entitlement ${entitlementId}`);
  return { links, entitlement };
}

/**
 * Issues a temporary download link for one entitlement, audited. Its URLs go through the
 * buyer's download path (`GET /downloads/:token`), which checks on every click the link's
 * expiry and revocation and the entitlement's status now.
 */
export async function issueTemporaryLink(
  deps: OperationsDeps,
  entitlementId: string,
  { expiresInHours = TEMPORARY_LINK_DEFAULT_HOURS }: { expiresInHours?: number | undefined },
  who: Authorship,
): Promise<TemporaryLink> {
  requireReason(who);
  if (!Number.isInteger(expiresInHours) || expiresInHours < 1)
    throw new OperationError('invalid', 'expires_in_hours: a whole number of hours, at least 1');
  if (expiresInHours > TEMPORARY_LINK_MAX_HOURS)
    throw new OperationError(
      'invalid',
      `expires_in_hours: at most ${TEMPORARY_LINK_MAX_HOURS} (7 days)`,
    );
  const { links, entitlement } = await entitlementForLink(deps, entitlementId);
  if (!DOWNLOADABLE.includes(entitlement.status))
    throw new OperationError('conflict', `no download link: access is ${entitlement.status}`);
  const expiresAt = new Date(Date.now() + expiresInHours * 3_600_000);
  const linkId = await insertTemporaryLink(
    deps.db,
    { entitlementId, expiresAt },
    { operator: who.operator.name, role: who.operator.role, reason: who.reason },
  );
  const { publicBaseUrl, secrets } = links;
  return {
    linkId,
    entitlementId,
    expiresAt,
    urls: entitlement.formats.map((format) => ({
      format,
      url: `${publicBaseUrl}/downloads/${createTemporaryDownloadToken({ linkId, format, expiresAt }, secrets)}`,
    })),
  };
}

/** Revokes a temporary link: its next click is refused. Audited; repeating it changes nothing. */
export async function revokeTemporaryDownloadLink(
  deps: OperationsDeps,
  linkId: string,
  who: Authorship,
): Promise<{ linkId: string; entitlementId: string; revokedAt: Date }> {
  requireReason(who);
  if (!UUID.test(linkId)) throw new OperationError('invalid', 'link: a link id (uuid)');
  const revoked = await revokeTemporaryLink(deps.db, linkId, {
    operator: who.operator.name,
    role: who.operator.role,
    reason: who.reason,
  });
  if (!revoked) throw new OperationError('not_found', `no temporary download link ${linkId}`);
  return { linkId, ...revoked };
}
