import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { hashClaimToken } from '../../security/claim-tokens.ts';
import type { StorageDriver } from '../../drivers/storage/driver.ts';
import type { AnalyticsSink } from '../../drivers/analytics/index.ts';
import { downloads } from '../../observability/metrics.ts';
import type { Db } from '../../db/database.ts';
import { claimGuestPurchases } from '../../db/queries/claims.ts';
import {
  countOrderResends,
  DOWNLOADABLE,
  findOwnEntitlement,
  listShelf,
  setEntitlementArchived,
} from '../../db/queries/shelf.ts';
import { signalClaimed, startResend } from '../../temporal/workflows.ts';
import type { EndUser } from '../auth.ts';
import { badRequest, claimBody, downloadBody, entitlementParams, shelfQuery } from '../schemas.ts';
import { issueDownload, STORAGE_URL_TTL_SECONDS } from '../issue-download.ts';

const DOWNLOAD_URL_ROUTE = '/v1/entitlements/:id/download-url';

/** Enough for a lost email and a second device; more is a loop or abuse. */
const RESENDS_PER_HOUR = 3;

declare module 'fastify' {
  interface FastifyRequest {
    endUser: EndUser | null;
  }
}

export interface StorefrontOptions {
  db: Db;
  temporal: Client;
  storage: StorageDriver;
  authenticate: (request: FastifyRequest) => Promise<EndUser | null>;
  /** Where `entitlement.download` goes (ANALYTICS_SINK). */
  analytics?: AnalyticsSink | undefined;
}

/**
 * The storefront's API under /v1/ (the end user's JWT): the shelf, archive, fresh download
 * URLs and account claim. Unknown ids and someone else's ids both answer 404.
 */
export const registerStorefrontRoutes: FastifyPluginAsync<StorefrontOptions> = async (
  app,
  { db, temporal, storage, authenticate, analytics },
) => {
  app.decorateRequest('endUser', null);
  // A download URL the storefront asked for and did not get (5xx): the download SLI's failures.
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode >= 500 && request.routeOptions.url === DOWNLOAD_URL_ROUTE)
      downloads.inc({ source: 'api', outcome: 'failed' });
  });
  app.addHook('onRequest', async (request, reply) => {
    request.endUser = await authenticate(request);
    if (!request.endUser)
      return reply.code(401).send({ error: 'a valid bearer token is required' });
  });
  const user = (request: FastifyRequest): EndUser => request.endUser!;
  const notFound = (reply: FastifyReply) =>
    reply.code(404).send({ error: 'entitlement not found' });

  app.get('/v1/entitlements', async (request, reply) => {
    const query = shelfQuery.safeParse(request.query);
    if (!query.success) return badRequest(reply, query.error);
    const page = await listShelf(db, user(request).userId, query.data);
    return { ...page, view: query.data.view, limit: query.data.limit, offset: query.data.offset };
  });

  const setArchived =
    (archived: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const params = entitlementParams.safeParse(request.params);
      if (!params.success) return notFound(reply);
      const own = await findOwnEntitlement(db, user(request).userId, params.data.id);
      if (!own) return notFound(reply);
      await setEntitlementArchived(db, own.id, archived);
      return reply.code(200).send({ id: own.id, archived });
    };
  app.post('/v1/entitlements/:id/archive', setArchived(true));
  app.delete('/v1/entitlements/:id/archive', setArchived(false));

  app.post(DOWNLOAD_URL_ROUTE, async (request, reply) => {
    const params = entitlementParams.safeParse(request.params);
    if (!params.success) return notFound(reply);
    const body = downloadBody.safeParse(request.body);
    if (!body.success) return badRequest(reply, body.error);
    const own = await findOwnEntitlement(db, user(request).userId, params.data.id);
    if (!own || !own.formats.includes(body.data.format)) return notFound(reply);
    const issued = await issueDownload(
      { db, storage, analytics },
      own,
      body.data.format,
      request,
      'api',
    );
    if (!issued.ok) {
      if (issued.status === 'processing')
        return reply.code(409).send({ error: 'still being prepared' });
      return reply.code(403).send({ error: `access is ${issued.status}` });
    }
    return { url: issued.url, expiresInSeconds: STORAGE_URL_TTL_SECONDS };
  });

  /**
   * `POST /v1/entitlements/:id/resend-email`: fresh links by email, through the orchestrator
   * (a `resend-<order>-<n>` workflow). At most RESENDS_PER_HOUR per order, then 429.
   */
  app.post('/v1/entitlements/:id/resend-email', async (request, reply) => {
    const params = entitlementParams.safeParse(request.params);
    if (!params.success) return notFound(reply);
    const own = await findOwnEntitlement(db, user(request).userId, params.data.id);
    if (!own) return notFound(reply);
    if (!DOWNLOADABLE.includes(own.status))
      return reply.code(403).send({ error: `access is ${own.status}` });
    const resends = await countOrderResends(db, own.order_id);
    if (resends.lastHour >= RESENDS_PER_HOUR) {
      return reply
        .code(429)
        .header('retry-after', '3600')
        .send({ error: `at most ${RESENDS_PER_HOUR} resends an hour` });
    }
    const workflowId = await startResend(temporal, {
      orderId: own.order_id,
      sequence: resends.total + 1,
    });
    return reply.code(202).send({ workflowId });
  });

  /**
   * `POST /v1/claims`: with `{ token }` from a claim link, or `{}` when the JWT carries a
   * verified email equal to the billing email. Links the guest profile to the signed-in
   * account, activates its entitlements and stops the reminders. Used, expired and unknown
   * tokens all get the same answer.
   */
  app.post('/v1/claims', async (request, reply) => {
    const body = claimBody.safeParse(request.body ?? {});
    if (!body.success) return badRequest(reply, body.error);
    const { userId, email, emailVerified } = user(request);
    const token = body.data.token;
    if (!token && (!email || !emailVerified)) {
      return reply
        .code(403)
        .send({ error: 'a claim link or a verified email is required to claim purchases' });
    }
    const purchaseKeys = await claimGuestPurchases(
      db,
      userId,
      token ? { tokenHash: hashClaimToken(token) } : { email: email! },
    );
    if (purchaseKeys === null)
      return reply.code(404).send({ error: 'this claim link is not valid' });
    for (const purchaseKey of purchaseKeys) {
      // Stops the reminders; a fulfillment that already ended has none to stop.
      await signalClaimed(temporal, purchaseKey).catch(() => false);
    }
    return reply.code(200).send({ claimed: purchaseKeys.length });
  });
};
