import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { hashClaimToken } from '../../security/claim-tokens.ts';
import type { StorageDriver } from '../../drivers/storage/driver.ts';
import type { Db, DbExecutor } from '../../db/database.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from '../../db/queries/entitlements.ts';
import { DOWNLOADABLE, findOwnEntitlement, listShelf } from '../../db/queries/shelf.ts';
import { signalClaimed, startResend } from '../../temporal/workflows.ts';
import type { EndUser } from '../auth.ts';
import { badRequest, claimBody, downloadBody, entitlementParams, shelfQuery } from '../schemas.ts';
import { issueDownload, STORAGE_URL_TTL_SECONDS } from '../issue-download.ts';

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
    const resends = await db
      .selectFrom('email_deliveries')
      .select((eb) => [
        eb.fn.countAll<string>().as('total'),
        eb.fn
          .countAll<string>()
          .filterWhere('created_at', '>', sql<Date>`now() - interval '1 hour'`)
          .as('lastHour'),
      ])
      .where('order_id', '=', own.order_id)
      .where('kind', '=', 'resend')
      .executeTakeFirstOrThrow();
    if (Number(resends.lastHour) >= RESENDS_PER_HOUR) {
      return reply
        .code(429)
        .header('retry-after', '3600')
        .send({ error: `at most ${RESENDS_PER_HOUR} resends an hour` });
    }
    const workflowId = await startResend(temporal, {
      orderId: own.order_id,
      sequence: Number(resends.total) + 1,
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
    const purchaseKeys = await db.transaction().execute(async (trx) => {
      const guestId = token
        ? await useClaimToken(trx, token, userId)
        : await guestByEmail(trx, email!);
      return guestId === null
        ? null
        : linkGuestToUser(trx, guestId, userId, token ? 'claim_link' : 'verified_email');
    });
    if (purchaseKeys === null)
      return reply.code(404).send({ error: 'this claim link is not valid' });
    for (const purchaseKey of purchaseKeys) {
      // Stops the reminders; a fulfillment that already ended has none to stop.
      await signalClaimed(temporal, purchaseKey).catch(() => false);
    }
    return reply.code(200).send({ claimed: purchaseKeys.length });
  });
};

/** The guest profile of an email, when it is still unclaimed. */
async function guestByEmail(trx: DbExecutor, email: string): Promise<string | null> {
  const guest = await trx
    .selectFrom('customers')
    .select(['id', 'auth_user_id'])
    .where('email', '=', email)
    .forUpdate()
    .executeTakeFirst();
  return guest && guest.auth_user_id === null ? guest.id : null;
}

/** Spends a claim token (single use, unexpired) and returns its guest profile, else null. */
async function useClaimToken(
  trx: DbExecutor,
  token: string,
  userId: string,
): Promise<string | null> {
  const used = await trx
    .updateTable('claim_tokens')
    .set({ used_at: sql<Date>`now()`, used_by: userId })
    .where('token_hash', '=', hashClaimToken(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning('customer_id')
    .executeTakeFirst();
  if (!used) return null;
  const guest = await trx
    .selectFrom('customers')
    .select('auth_user_id')
    .where('id', '=', used.customer_id)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return guest.auth_user_id === null || guest.auth_user_id === userId ? used.customer_id : null;
}

/**
 * Links a guest profile to an auth user: the profile itself, or — when the user already has a
 * profile under another email — its orders and entitlements move there. Re-derives every
 * order's entitlements (pending_claim → active) and audits the claim.
 */
async function linkGuestToUser(
  trx: DbExecutor,
  guestId: string,
  userId: string,
  via: string,
): Promise<string[]> {
  const account = await trx
    .selectFrom('customers')
    .select('id')
    .where('auth_user_id', '=', userId)
    .executeTakeFirst();
  if (account && account.id !== guestId) {
    await trx
      .updateTable('orders')
      .set({ customer_id: account.id })
      .where('customer_id', '=', guestId)
      .execute();
    await trx
      .updateTable('entitlements')
      .set({ customer_id: account.id })
      .where('customer_id', '=', guestId)
      .execute();
  } else {
    await trx
      .updateTable('customers')
      .set({ auth_user_id: userId, status: 'active', updated_at: sql<Date>`now()` })
      .where('id', '=', guestId)
      .execute();
  }
  const orders = await trx
    .selectFrom('orders')
    .select(['id', 'purchase_key'])
    .where('customer_id', '=', account?.id ?? guestId)
    .execute();
  for (const order of orders) {
    await lockPurchase(trx, order.purchase_key);
    await reconcileOrderEntitlements(trx, order.id);
  }
  await recordAudit(trx, {
    actor: userId,
    action: 'entitlement.claim_success',
    target: guestId,
    detail: { orders: orders.length, via },
  });
  await trx
    .insertInto('analytics_events')
    .values({
      event_key: `entitlement.claim_success:${guestId}:${userId}`,
      name: 'entitlement.claim_success',
      order_id: null,
      customer_id: account?.id ?? guestId,
      properties: JSON.stringify({ orders: orders.length, via }),
    })
    .onConflict((oc) => oc.column('event_key').doNothing())
    .execute();
  return orders.map((order) => order.purchase_key);
}
