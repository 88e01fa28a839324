import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';
import type { EmailDelivery, NewEmailDelivery } from '../tables/email-deliveries.ts';
import type { NewClaimToken } from '../tables/claim-tokens.ts';

/** An order email as the ledger (`email_deliveries`) recorded it: exactly what is sent. */
export type RecordedOrderEmail = Pick<
  EmailDelivery,
  'status' | 'recipient' | 'subject' | 'html' | 'text'
>;

/** The ledger's row for an idempotency key, or undefined before the email is first recorded. */
export async function findOrderEmail(
  db: DbExecutor,
  idempotencyKey: string,
): Promise<RecordedOrderEmail | undefined> {
  return db
    .selectFrom('email_deliveries')
    .select(['status', 'recipient', 'subject', 'html', 'text'])
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
}

export type NewOrderEmail = Pick<
  NewEmailDelivery,
  'idempotency_key' | 'kind' | 'recipient' | 'order_id' | 'subject' | 'html' | 'text'
>;

/**
 * Records an order email in the ledger (`queued`) unless its idempotency key is there already,
 * and returns the row as recorded.
 */
export async function insertOrderEmailOnce(
  db: DbExecutor,
  email: NewOrderEmail,
): Promise<RecordedOrderEmail> {
  await db
    .insertInto('email_deliveries')
    .values({
      ...email,
      driver: null,
      provider_message_id: null,
      last_error: null,
      sent_at: null,
    })
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .execute();
  // Whoever inserted first wins: every attempt sends exactly the recorded message, so a
  // provider's idempotency check sees the same payload on a retry.
  return db
    .selectFrom('email_deliveries')
    .select(['status', 'recipient', 'subject', 'html', 'text'])
    .where('idempotency_key', '=', email.idempotency_key)
    .executeTakeFirstOrThrow();
}

/** Counts one send attempt of the ledger's row. */
export async function countOrderEmailAttempt(
  db: DbExecutor,
  idempotencyKey: string,
): Promise<void> {
  await db
    .updateTable('email_deliveries')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: sql<Date>`now()` }))
    .where('idempotency_key', '=', idempotencyKey)
    .execute();
}

/** The provider accepted the email: `sent`, by which driver, under which message id. */
export async function markOrderEmailSent(
  db: DbExecutor,
  idempotencyKey: string,
  sent: { driver: string; providerMessageId: string | null },
): Promise<void> {
  await db
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
    .execute();
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

/** What an order email says about the order, and to whom it goes. */
export async function findOrderForEmail(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('orders')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .select([
      'orders.purchase_key',
      'orders.amount_total',
      'orders.currency',
      'orders.paid_at',
      'orders.customer_id',
      'customers.email',
      'customers.auth_user_id',
    ])
    .where('orders.id', '=', orderId)
    .executeTakeFirstOrThrow();
}

/** The order's items as an email lists them, by title. */
export async function listOrderEmailItems(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select(['entitlements.id', 'products.title', 'products.formats'])
    .where('entitlements.order_id', '=', orderId)
    .orderBy('products.title')
    .execute();
}

/** Stores a claim token by its hash (the raw token exists only in the email). */
export async function insertClaimToken(
  db: DbExecutor,
  token: Pick<NewClaimToken, 'token_hash' | 'customer_id' | 'expires_at'>,
): Promise<void> {
  await db
    .insertInto('claim_tokens')
    .values({ ...token, used_at: null, used_by: null })
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

/** The order's receipt (`delivery` email) and when the order was paid, for the latency metric. */
export async function findReceipt(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('email_deliveries')
    .innerJoin('orders', 'orders.id', 'email_deliveries.order_id')
    .select(['email_deliveries.status', 'email_deliveries.sent_at', 'orders.paid_at'])
    .where('email_deliveries.order_id', '=', orderId)
    .where('email_deliveries.kind', '=', 'delivery')
    .executeTakeFirst();
}
