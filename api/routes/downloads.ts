import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { readDownloadToken, readTemporaryDownloadToken } from '../../security/download-links.ts';
import { findTemporaryLink } from '../../db/queries/temporary-links.ts';
import { escapeHtml } from '../../drivers/email/templates.ts';
import {
  localStoragePath,
  readLocalStorageToken,
  type StorageDriver,
} from '../../drivers/storage/driver.ts';
import type { Db } from '../../db/database.ts';
import { issueDownload } from '../issue-download.ts';
import type { AnalyticsSink } from '../../drivers/analytics/index.ts';
import { downloads } from '../../observability/metrics.ts';
import { postgresRateLimitStore } from '../rate-limit-store.ts';
import { hashClaimToken } from '../../security/claim-tokens.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import { findClaimTokenCustomer, insertClaimInitiatedEvent } from '../../db/queries/claims.ts';
import { findLinkedEntitlement } from '../../db/queries/downloads.ts';

export interface DownloadRoutesOptions {
  db: Db;
  storage: StorageDriver;
  /** Null when DOWNLOAD_TOKEN_SECRETS is not configured: links cannot be checked. */
  secrets: readonly string[] | null;
  storefrontUrl: string;
  /** The local storage root, to serve its signed URLs; null for remote storage. */
  localRoot: string | null;
  rateLimitPerMinute: number;
  /** Where `entitlement.download` goes (ANALYTICS_SINK). */
  analytics?: AnalyticsSink | undefined;
  /** The rate-limit counters' namespace (`SecurityOptions.rateLimitScope`). */
  rateLimitScope?: string;
}

function page(
  reply: FastifyReply,
  status: number,
  title: string,
  body: string,
  storefrontUrl: string,
) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(body)}</p><p><a href="${escapeHtml(storefrontUrl)}">Go to your shelf</a></p>`,
    );
}

/**
 * `GET /downloads/:token` — an emailed link, or a temporary link support issued (its token names
 * the link's row, whose expiry and revocation are checked too). The token names an entitlement, a format and an
 * expiry; every click re-checks the entitlement's status now (revoking kills every link
 * already sent), is logged, and redirects to a storage URL that lives about a minute.
 */
export const registerDownloadRoutes: FastifyPluginAsync<DownloadRoutesOptions> = async (
  app,
  options,
) => {
  const { db, storage, secrets, storefrontUrl, localRoot, analytics } = options;
  // Links are clicked by people: a handful a minute each; a scraper gets 429 — counted in
  // PostgreSQL, so the limit holds across every api replica.
  await app.register(rateLimit, {
    max: options.rateLimitPerMinute,
    timeWindow: '1 minute',
    store: postgresRateLimitStore(db, `${options.rateLimitScope ?? 'fleet'}:downloads`),
    skipOnError: true,
  });
  // A link that could not be served (5xx) — including a storage file that went missing — is a
  // failed download: the download SLI's bad events (docs/SLOS.md).
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (
      reply.statusCode >= 500 &&
      (route === '/downloads/:token' || route === '/storage/local/:token')
    )
      downloads.inc({ source: 'email_link', outcome: 'failed' });
  });

  app.get<{ Params: { token: string } }>('/downloads/:token', async (request, reply) => {
    if (!secrets)
      return reply
        .code(503)
        .send({ error: 'download links are not configured (DOWNLOAD_TOKEN_SECRETS)' });
    const emailed = readDownloadToken(request.params.token, secrets);
    const temporary = emailed.ok ? null : readTemporaryDownloadToken(request.params.token, secrets);
    const token = temporary ?? emailed;
    if (!token.ok) {
      // A forged or mangled link: audited with a fingerprint of what was presented (never the
      // token itself) and where from, so a probing client shows up in audit_log.
      await recordAudit(db, {
        actor: 'buyer',
        action: 'download.forged',
        requestId: request.id,
        detail: {
          tokenSha256: createHash('sha256').update(request.params.token).digest('hex').slice(0, 16),
          tokenLength: request.params.token.length,
          ip: request.ip,
          userAgent: request.headers['user-agent'] ?? null,
        },
      });
      return page(reply, 404, 'Link not found', 'This download link is not valid.', storefrontUrl);
    }
    const refused = (action: 'download.denied' | 'download.expired', status: string) =>
      recordAudit(db, {
        actor: 'buyer',
        action,
        target: token.link.entitlementId,
        requestId: request.id,
        detail: {
          format: token.link.format,
          via: temporary?.ok ? 'temporary_link' : 'email_link',
          status,
          ip: request.ip,
        },
      });
    // A link support issued: its row says whether it still stands (expiry, revocation).
    const issued = temporary?.ok ? await findTemporaryLink(db, token.link.entitlementId) : null;
    if (temporary?.ok && !issued) {
      await refused('download.denied', 'no_such_link');
      return page(reply, 404, 'Link not found', 'This download link is not valid.', storefrontUrl);
    }
    if (issued?.revokedAt) {
      await refused('download.denied', 'link_withdrawn');
      return page(
        reply,
        410,
        'This link was withdrawn',
        'This download link no longer works. Sign in to your shelf to download, or contact us for a new link.',
        storefrontUrl,
      );
    }
    if (token.expired || (issued && issued.expiresAt.getTime() <= Date.now())) {
      await refused('download.expired', 'expired');
      return page(
        reply,
        410,
        'This link has expired',
        issued
          ? 'This temporary link has expired. Sign in to your shelf to download, or contact us for a new link.'
          : 'Download links work for 48 hours. Sign in to your shelf to download again, or ask us to resend your links from there.',
        storefrontUrl,
      );
    }
    const entitlement = issued
      ? issued.entitlement
      : await findLinkedEntitlement(db, token.link.entitlementId);
    if (!entitlement || !entitlement.formats.includes(token.link.format)) {
      await refused('download.denied', entitlement ? 'format_not_offered' : 'no_such_entitlement');
      return page(reply, 404, 'Link not found', 'This download link is not valid.', storefrontUrl);
    }
    const download = await issueDownload(
      { db, storage, analytics },
      entitlement,
      token.link.format,
      request,
      'email_link',
    );
    if (!download.ok) {
      const why =
        download.status === 'processing'
          ? 'Your purchase is still being prepared; try again in a minute.'
          : 'Access to this purchase has been withdrawn (refunded, disputed or revoked).';
      return page(
        reply,
        download.status === 'processing' ? 409 : 403,
        'Download unavailable',
        why,
        storefrontUrl,
      );
    }
    return reply.redirect(download.url, 302);
  });

  /** `GET /claim/:token` — the link in the email: noted, then on to the storefront's claim page. */
  app.get<{ Params: { token: string } }>('/claim/:token', async (request, reply) => {
    const token = request.params.token;
    const customerId = /^[A-Za-z0-9_-]{43}$/.test(token)
      ? await findClaimTokenCustomer(db, hashClaimToken(token))
      : undefined;
    if (customerId) {
      await recordAudit(db, {
        actor: 'buyer',
        action: 'entitlement.claim_initiated',
        target: customerId,
        requestId: request.id,
        detail: { ip: request.ip },
      });
      await insertClaimInitiatedEvent(db, { customerId, requestId: request.id });
    }
    // Every token gets the same redirect: the answer never reveals whether it is valid.
    return reply.redirect(`${storefrontUrl}/claim?token=${encodeURIComponent(token)}`, 302);
  });

  if (localRoot && secrets) {
    app.get<{ Params: { token: string } }>('/storage/local/:token', async (request, reply) => {
      const file = readLocalStorageToken(request.params.token, secrets);
      if (!file) return reply.code(403).send({ error: 'expired or invalid storage URL' });
      const filePath = localStoragePath(localRoot, file.key);
      const info = await stat(filePath).catch(() => null);
      if (!info?.isFile()) return reply.code(404).send({ error: 'not found' });
      return reply
        .header(
          'content-disposition',
          `attachment; filename="${file.downloadName.replaceAll('"', '')}"`,
        )
        .header('cache-control', 'private, no-store')
        .type(file.key.endsWith('.pdf') ? 'application/pdf' : 'application/epub+zip')
        .send(createReadStream(filePath));
    });
  }
};
