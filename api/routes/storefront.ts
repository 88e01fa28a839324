import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import type { StorageDriver } from '../../activities/storage/driver.ts';
import type { Db } from '../../db/database.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from '../../db/queries/entitlements.ts';
import { findOwnEntitlement, listShelf, SHELF_VIEWS } from '../../db/queries/shelf.ts';
import { claimedSignal, fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import type { EndUser } from '../auth.ts';
import { issueDownload, STORAGE_URL_TTL_SECONDS } from '../issue-download.ts';

const shelfQuery = z.object({
  view: z.enum(SHELF_VIEWS).default('all'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});
const entitlementParams = z.object({ id: z.uuid() });
const downloadBody = z.object({ format: z.enum(['pdf', 'epub']) });
const claimBody = z.object({}).strict();

function badRequest(reply: FastifyReply, error: z.ZodError) {
  const fields = error.issues.map(
    (issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`,
  );
  return reply.code(400).send({ error: `invalid request: ${fields.join('; ')}` });
}

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
}

/**
 * The storefront's API under /v1/ (the end user's JWT): the shelf, archive, fresh download
 * URLs and account claim. Unknown ids and someone else's ids both answer 404.
 */
export const registerStorefrontRoutes: FastifyPluginAsync<StorefrontOptions> = async (
  app,
  { db, temporal, storage, authenticate },
) => {
  app.decorateRequest('endUser', null);
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
      await db
        .updateTable('entitlements')
        .set({ archived, updated_at: sql<Date>`now()` })
        .where('id', '=', own.id)
        .execute();
      return reply.code(200).send({ id: own.id, archived });
    };
  app.post('/v1/entitlements/:id/archive', setArchived(true));
  app.delete('/v1/entitlements/:id/archive', setArchived(false));

  app.post('/v1/entitlements/:id/download-url', async (request, reply) => {
    const params = entitlementParams.safeParse(request.params);
    if (!params.success) return notFound(reply);
    const body = downloadBody.safeParse(request.body);
    if (!body.success) return badRequest(reply, body.error);
    const own = await findOwnEntitlement(db, user(request).userId, params.data.id);
    if (!own || !own.formats.includes(body.data.format)) return notFound(reply);
    const issued = await issueDownload({ db, storage }, own, body.data.format, request, 'api');
    if (!issued.ok) {
      if (issued.status === 'processing')
        return reply.code(409).send({ error: 'still being prepared' });
      return reply.code(403).send({ error: `access is ${issued.status}` });
    }
    return { url: issued.url, expiresInSeconds: STORAGE_URL_TTL_SECONDS };
  });

  /**
   * `POST /v1/claims` with a verified email: links the guest profile of that email to the
   * signed-in account, activates its `pending_claim` entitlements and stops the reminders.
   */
  app.post('/v1/claims', async (request, reply) => {
    const body = claimBody.safeParse(request.body ?? {});
    if (!body.success) return badRequest(reply, body.error);
    const { userId, email, emailVerified } = user(request);
    if (!email || !emailVerified)
      return reply.code(403).send({ error: 'a verified email is required to claim purchases' });

    const purchaseKeys = await db.transaction().execute(async (trx) => {
      const guest = await trx
        .selectFrom('customers')
        .select(['id', 'auth_user_id'])
        .where('email', '=', email)
        .forUpdate()
        .executeTakeFirst();
      if (!guest || guest.auth_user_id === userId) return [];
      if (guest.auth_user_id !== null) return [];
      const account = await trx
        .selectFrom('customers')
        .select('id')
        .where('auth_user_id', '=', userId)
        .executeTakeFirst();
      if (account) {
        // The user already has a profile under another email: the guest's purchases join it.
        await trx
          .updateTable('orders')
          .set({ customer_id: account.id })
          .where('customer_id', '=', guest.id)
          .execute();
        await trx
          .updateTable('entitlements')
          .set({ customer_id: account.id })
          .where('customer_id', '=', guest.id)
          .execute();
      } else {
        await trx
          .updateTable('customers')
          .set({ auth_user_id: userId, status: 'active', updated_at: sql<Date>`now()` })
          .where('id', '=', guest.id)
          .execute();
      }
      const orders = await trx
        .selectFrom('orders')
        .select(['id', 'purchase_key'])
        .where('customer_id', '=', account?.id ?? guest.id)
        .execute();
      for (const order of orders) {
        await lockPurchase(trx, order.purchase_key);
        await reconcileOrderEntitlements(trx, order.id);
      }
      await recordAudit(trx, {
        actor: userId,
        action: 'entitlement.claim_success',
        target: guest.id,
        detail: { orders: orders.length },
      });
      return orders.map((order) => order.purchase_key);
    });
    for (const purchaseKey of purchaseKeys) {
      // Stops the reminders; a fulfillment that already ended has none to stop.
      await temporal.workflow
        .getHandle(fulfillmentWorkflowId(purchaseKey))
        .signal(claimedSignal)
        .catch(() => undefined);
    }
    return reply.code(200).send({ claimed: purchaseKeys.length });
  });
};
