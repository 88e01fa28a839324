import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { OrderEmailKind } from '../workflows/contracts.ts';
import type { EmailDriver } from './email/driver.ts';
import {
  renderCancellationEmail,
  renderDeliveryEmail,
  type RenderedEmail,
} from './email/templates.ts';

export interface OrderEmailDeps {
  db: Db;
  email: EmailDriver;
  emailFrom: string;
}

/** One email of each kind per order: the idempotency key is the ledger's unique key. */
export function orderEmailKey(kind: OrderEmailKind, orderId: string): string {
  return `${kind}:${orderId}:1`;
}

async function renderOrderEmail(db: Db, orderId: string, kind: OrderEmailKind) {
  const order = await db
    .selectFrom('orders')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .select([
      'orders.purchase_key',
      'orders.amount_total',
      'orders.currency',
      'orders.paid_at',
      'customers.email',
      'customers.auth_user_id',
    ])
    .where('orders.id', '=', orderId)
    .executeTakeFirstOrThrow();
  const items = await db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select(['products.title', 'products.formats'])
    .where('entitlements.order_id', '=', orderId)
    .orderBy('products.title')
    .execute();
  const rendered: RenderedEmail =
    kind === 'delivery'
      ? renderDeliveryEmail({
          orderReference: order.purchase_key,
          items,
          amountTotal: order.amount_total,
          currency: order.currency,
          paidAt: order.paid_at,
          guest: order.auth_user_id === null,
        })
      : renderCancellationEmail({ orderReference: order.purchase_key, items });
  return { recipient: order.email, rendered };
}

export function createOrderEmailActivities({ db, email, emailFrom }: OrderEmailDeps) {
  return {
    /**
     * Sends an order's email through the ledger: the row is claimed by its idempotency key
     * first, and a key already sent is never sent again, however often this is retried.
     */
    async sendOrderEmail({
      orderId,
      kind,
    }: {
      orderId: string;
      kind: OrderEmailKind;
    }): Promise<void> {
      const idempotencyKey = orderEmailKey(kind, orderId);
      const existing = await db
        .selectFrom('email_deliveries')
        .select(['status'])
        .where('idempotency_key', '=', idempotencyKey)
        .executeTakeFirst();
      if (existing && existing.status !== 'queued' && existing.status !== 'failed') return;

      const { recipient, rendered } = await renderOrderEmail(db, orderId, kind);
      await db
        .insertInto('email_deliveries')
        .values({
          idempotency_key: idempotencyKey,
          kind,
          recipient,
          order_id: orderId,
          ...rendered,
          driver: null,
          provider_message_id: null,
          last_error: null,
          sent_at: null,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
      await db
        .updateTable('email_deliveries')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: sql<Date>`now()` }))
        .where('idempotency_key', '=', idempotencyKey)
        .execute();
      try {
        const sent = await email.send({
          idempotencyKey,
          from: emailFrom,
          to: recipient,
          ...rendered,
        });
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
      } catch (error) {
        await db
          .updateTable('email_deliveries')
          .set({
            last_error: error instanceof Error ? error.message : String(error),
            updated_at: sql<Date>`now()`,
          })
          .where('idempotency_key', '=', idempotencyKey)
          .execute();
        throw error;
      }
    },
  };
}
