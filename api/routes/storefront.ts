import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import type { StorageDriver } from '../../activities/storage/driver.ts';
import type { Db } from '../../db/database.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from '../../db/queries/entitlements.ts';
import { productStoragePath } from '../../db/queries/products.ts';
import {
  DOWNLOADABLE,
  findOwnEntitlement,
  listShelf,
  SHELF_VIEWS,
} from '../../db/queries/shelf.ts';
import { claimedSignal, fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import type { EndUser } from '../auth.ts';

/** A storefront download starts right away; a minute is enough and short enough to not leak. */
const DOWNLOAD_URL_TTL_SECONDS = 60;

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
    const usable = DOWNLOADABLE.includes(own.status);
    await db
      .insertInto('download_events')
      .values({
        entitlement_id: own.id,
        format: body.data.format,
        source: 'api',
        outcome: usable ? 'issued' : own.status,
        ip: request.ip,
        user_agent: request.headers['user-agent'] ?? null,
      })
      .execute();
    if (own.status === 'processing') return reply.code(409).send({ error: 'still being prepared' });
    if (!usable) return reply.code(403).send({ error: `access is ${own.status}` });
    await db
      .updateTable('entitlements')
      .set({ last_download_at: sql<Date>`now()` })
      .where('id', '=', own.id)
      .execute();
    await db
      .insertInto('analytics_events')
      .values({
        event_key: `entitlement.download:${own.id}:${request.id}:${Date.now()}`,
        name: 'entitlement.download',
        order_id: null,
        customer_id: null,
        properties: JSON.stringify({
          entitlementId: own.id,
          format: body.data.format,
          source: 'api',
        }),
      })
      .execute();
    const url = await storage.signedUrl(productStoragePath(own, body.data.format), {
      expiresInSeconds: DOWNLOAD_URL_TTL_SECONDS,
      downloadName: `${own.slug}-${own.version}.${body.data.format}`,
    });
    return { url, expiresInSeconds: DOWNLOAD_URL_TTL_SECONDS };
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
