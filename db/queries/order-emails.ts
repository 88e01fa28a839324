import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';
import type { OrderSource } from '../../workflows/contracts.ts';
import type { NewClaimToken } from '../tables/claim-tokens.ts';
import type { EmailDelivery, NewEmailDelivery } from '../tables/email-deliveries.ts';
import type { ProductFormat } from '../tables/products.ts';

/** An order email as the ledger (`email_deliveries`) recorded it: exactly what is sent. */
export type RecordedOrderEmail = Pick<
  EmailDelivery,
  'status' | 'recipient' | 'subject' | 'html' | 'text'
>;

/** An order, its buyer and its items as an order email shows them, with the ledger's row. */
export interface OrderForEmail {
  purchase_key: string;
  source: OrderSource;
  amount_total: number | null;
  currency: string | null;
  paid_at: Date;
  customer_id: string;
  email: string;
  auth_user_id: string | null;
  /** By title: what the email lists (and what analytics count). */
  items: {
    id: string;
    product_id: string;
    sku: string;
    title: string;
    formats: ProductFormat[];
    status: string;
  }[];
  /** The ledger's row for the email's idempotency key; null before it is first recorded. */
  recorded: RecordedOrderEmail | null;
}

/**
 * Everything an order email needs, in one round trip: the order, its buyer, its items and —
 * when the email was recorded before — the ledger's row for `idempotencyKey`.
 */
export async function findOrderForEmail(
  db: DbExecutor,
  orderId: string,
  idempotencyKey: string,
): Promise<OrderForEmail> {
  const {
    rows: [row],
  } = await sql<OrderForEmail>`
    select orders.purchase_key, orders.source, orders.amount_total, orders.currency,
           orders.paid_at, orders.customer_id, customers.email, customers.auth_user_id,
           (select coalesce(json_agg(json_build_object('id', entitlements.id,
                     'product_id', entitlements.product_id, 'sku', products.sku,
                     'title', products.title, 'formats', products.formats,
                     'status', entitlements.status) order by products.title), '[]')
              from entitlements join products on products.id = entitlements.product_id
             where entitlements.order_id = orders.id) as items,
           (select json_build_object('status', status, 'recipient', recipient,
                     'subject', subject, 'html', html, 'text', text)
              from email_deliveries where idempotency_key = ${idempotencyKey}) as recorded
      from orders join customers on customers.id = orders.customer_id
     where orders.id = ${orderId}`.execute(db);
  if (!row) throw new Error(`order ${orderId} does not exist`);
  return row;
}

export type NewOrderEmail = Pick<
  NewEmailDelivery,
  'idempotency_key' | 'kind' | 'recipient' | 'order_id' | 'subject' | 'html' | 'text'
>;

/**
 * Claims a send attempt of an order email, in one statement: records the rendered message in
 * the ledger (`queued`, with the guest's claim token when it carries one) unless its
 * idempotency key is there already, and counts the attempt. Whoever recorded first wins:
 * every attempt sends exactly the recorded message, so a provider's idempotency check sees the
 * same payload on a retry. Undefined when the key was sent (or bounced…) meanwhile. A claim
 * token that `supersedes` (support's reissue) expires the guest's other live claim links as it
 * is recorded, so the newest link recorded is the one that works.
 */
export async function claimOrderEmailAttempt(
  db: DbExecutor,
  email: NewOrderEmail,
  claimToken:
    | (Pick<NewClaimToken, 'token_hash' | 'customer_id' | 'expires_at'> & { supersedes?: boolean })
    | null,
): Promise<RecordedOrderEmail | undefined> {
  const {
    rows: [row],
  } = await sql<RecordedOrderEmail>`
    with recorded as (
      insert into email_deliveries (idempotency_key, kind, recipient, order_id, subject, html,
                                    text, attempts)
      values (${email.idempotency_key}, ${email.kind}, ${email.recipient},
              ${email.order_id ?? null}::uuid, ${email.subject}, ${email.html}, ${email.text}, 1)
      on conflict (idempotency_key) do update
        set attempts = email_deliveries.attempts + 1, updated_at = now()
        where email_deliveries.status in ('queued', 'failed')
      returning status, recipient, subject, html, text, xmax = 0 as inserted
    )${
      claimToken
        ? sql`,
    claim_token as (
      insert into claim_tokens (token_hash, customer_id, expires_at)
      select ${claimToken.token_hash}, ${claimToken.customer_id}::uuid,
             ${claimToken.expires_at}::timestamptz
        from recorded where inserted
    )${
      claimToken.supersedes
        ? sql`,
    superseded as (
      update claim_tokens set expires_at = now()
       where customer_id = ${claimToken.customer_id}::uuid and used_at is null
         and expires_at > now() and exists (select 1 from recorded where inserted)
    )`
        : sql``
    }`
        : sql``
    }
    select status, recipient, subject, html, text from recorded`.execute(db);
  return row;
}

/** Counts one more send attempt of a recorded email; undefined when it was sent meanwhile. */
export async function countOrderEmailAttempt(
  db: DbExecutor,
  idempotencyKey: string,
): Promise<RecordedOrderEmail | undefined> {
  return db
    .updateTable('email_deliveries')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: sql<Date>`now()` }))
    .where('idempotency_key', '=', idempotencyKey)
    .where('status', 'in', ['queued', 'failed'])
    .returning(['status', 'recipient', 'subject', 'html', 'text'])
    .executeTakeFirst();
}

/** The provider accepted the email: `sent`, by which driver, under which message id; when. */
export async function markOrderEmailSent(
  db: DbExecutor,
  idempotencyKey: string,
  sent: { driver: string; providerMessageId: string | null },
): Promise<Date | null> {
  const row = await db
    .updateTable('email_deliveries')
    .set({
      status: 'sent',
      driver: sent.driver,
      provider_message_id: sent.providerMessageId,
      sent_at: sql<Date>`now()`,
      updated_at: sql<Date>`now()`,
      last_error: null,
    })
    .where('idempotency_key', '=', idempotencyKey)
    .returning('sent_at')
    .executeTakeFirst();
  return row?.sent_at ?? null;
}

/** A send attempt failed: records the error; a `rejected` email (permanent) becomes `failed`. */
export async function recordOrderEmailError(
  db: DbExecutor,
  idempotencyKey: string,
  { error, rejected }: { error: string; rejected: boolean },
): Promise<void> {
  await db
    .updateTable('email_deliveries')
    .set({
      last_error: error,
      ...(rejected ? { status: 'failed' as const } : {}),
      updated_at: sql<Date>`now()`,
    })
    .where('idempotency_key', '=', idempotencyKey)
    .execute();
}

/**
 * What the reminders depend on: whether the buyer has an account, the last download of the
 * order, and how many of its entitlements are usable. Undefined for an order without any.
 */
export async function findReminderState(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('orders')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .innerJoin('entitlements', 'entitlements.order_id', 'orders.id')
    .select((eb) => [
      'customers.auth_user_id',
      eb.fn.max('entitlements.last_download_at').as('lastDownloadAt'),
      eb.fn
        .countAll<string>()
        .filterWhere('entitlements.status', 'in', ['pending_claim', 'active'])
        .as('usable'),
    ])
    .where('orders.id', '=', orderId)
    .groupBy('customers.auth_user_id')
    .executeTakeFirst();
}
