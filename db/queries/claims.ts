import { sql } from 'kysely';
import type { Db, DbExecutor } from '../database.ts';
import { recordAudit } from './audit.ts';
import { claimLinkWorkflowId } from '../../workflows/contracts.ts';
import { lockPurchase, reconcileOrderEntitlements } from './entitlements.ts';

/**
 * How a signed-in user proves a guest profile is theirs: the claim link's token (by its hash,
 * see security/claim-tokens.ts), or a verified email equal to the billing email.
 */
export type ClaimProof = { tokenHash: string } | { email: string };

/**
 * Claims a guest's purchases for an auth user, in one transaction: finds the guest profile
 * (spending the claim token, or by verified email), links it to the user and re-derives its
 * entitlements, audited. Returns the purchase keys of the claimed orders, or null when the
 * token is used, expired or unknown, or the email has no unclaimed profile.
 */
export async function claimGuestPurchases(
  db: Db,
  userId: string,
  proof: ClaimProof,
): Promise<string[] | null> {
  return db.transaction().execute(async (trx) => {
    const guestId =
      'tokenHash' in proof
        ? await useClaimToken(trx, proof.tokenHash, userId)
        : await findUnclaimedGuestByEmail(trx, proof.email);
    return guestId === null
      ? null
      : linkGuestToUser(
          trx,
          guestId,
          userId,
          'tokenHash' in proof ? 'claim_link' : 'verified_email',
        );
  });
}

/** The guest profile of an email, when it is still unclaimed. */
async function findUnclaimedGuestByEmail(trx: DbExecutor, email: string): Promise<string | null> {
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
  tokenHash: string,
  userId: string,
): Promise<string | null> {
  const used = await trx
    .updateTable('claim_tokens')
    .set({ used_at: sql<Date>`now()`, used_by: userId })
    .where('token_hash', '=', tokenHash)
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
 * profile under another email — its orders and entitlements move there and its
 * remaining claim links are spent (a merge). Re-derives the claimed orders' entitlements
 * (pending_claim → active), audits the claim and returns the claimed orders' purchase keys.
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
  const merge = account !== undefined && account.id !== guestId;
  const orders = await trx
    .selectFrom('orders')
    .select(['id', 'purchase_key'])
    .where('customer_id', '=', guestId)
    .execute();
  if (merge) {
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
    // The emptied guest profile keeps no live claim link: a stale one could link it to
    // someone else later.
    await trx
      .updateTable('claim_tokens')
      .set({ used_at: sql<Date>`now()`, used_by: userId })
      .where('customer_id', '=', guestId)
      .where('used_at', 'is', null)
      .execute();
  } else {
    await trx
      .updateTable('customers')
      .set({ auth_user_id: userId, status: 'active', updated_at: sql<Date>`now()` })
      .where('id', '=', guestId)
      .execute();
  }
  for (const order of orders) {
    await lockPurchase(trx, order.purchase_key);
    await reconcileOrderEntitlements(trx, order.id);
  }
  await recordAudit(trx, {
    actor: userId,
    action: 'entitlement.claim_success',
    target: guestId,
    detail: { orders: orders.length, via, ...(merge ? { mergedInto: account.id } : {}) },
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

/** The guest profile a claim token names (used or not, expired or not), by the token's hash. */
export async function findClaimTokenCustomer(
  db: DbExecutor,
  tokenHash: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('claim_tokens')
    .select('customer_id')
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  return row?.customer_id;
}

/** Emits `entitlement.claim_initiated` (the claim link was opened) to analytics. */
export async function insertClaimInitiatedEvent(
  db: DbExecutor,
  { customerId, requestId }: { customerId: string; requestId: string },
): Promise<void> {
  await db
    .insertInto('analytics_events')
    .values({
      event_key: `entitlement.claim_initiated:${customerId}:${requestId}:${Date.now()}`,
      name: 'entitlement.claim_initiated',
      order_id: null,
      customer_id: customerId,
      properties: null,
    })
    .execute();
}

/**
 * Support reissues a guest's claim link, in one transaction under the purchase's lock: every
 * claim link the guest holds expires now (older links stop working), the reissue is audited
 * with its sequence number, and `startEmail(sequence)` starts the email that carries the new
 * link (its token is issued when the email is first recorded). A failed start rolls it back.
 */
export async function recordClaimLinkReissue(
  db: Db,
  order: { id: string; purchaseKey: string; customerId: string },
  act: { operator: string; role: string; reason: string; recipient: string },
  startEmail: (sequence: number) => Promise<string>,
): Promise<{ sequence: number; workflowId: string; expiredLinks: number }> {
  return db.transaction().execute(async (trx) => {
    await lockPurchase(trx, order.purchaseKey);
    const previous = await trx
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll<string>().as('reissues'))
      .where('target', '=', order.id)
      .where('action', '=', 'claim_link.reissued')
      .executeTakeFirstOrThrow();
    const sequence = Number(previous.reissues) + 1;
    const expired = await trx
      .updateTable('claim_tokens')
      .set({ expires_at: sql<Date>`now()` })
      .where('customer_id', '=', order.customerId)
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
    const expiredLinks = Number(expired.numUpdatedRows);
    const workflowId = claimLinkWorkflowId(order.id, sequence);
    await recordAudit(trx, {
      actor: act.operator,
      action: 'claim_link.reissued',
      target: order.id,
      reason: act.reason,
      detail: { workflowId, sequence, expiredLinks, recipient: act.recipient, role: act.role },
    });
    await startEmail(sequence);
    return { sequence, workflowId, expiredLinks };
  });
}
