import { ApplicationFailure } from '@temporalio/common';
import { CLAIM_TOKEN_TTL_DAYS, newClaimToken } from '../security/claim-tokens.ts';
import { createDownloadToken, DOWNLOAD_LINK_TTL_SECONDS } from '../security/download-links.ts';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import {
  EMAIL_REJECTED,
  type OrderEmailKind,
  type ReminderMilestone,
} from '../workflows/contracts.ts';
import { raiseAlert, type AlertSinks } from '../support/alerts.ts';
import type { EmailDriver } from '../drivers/email/driver.ts';
import { EmailSendError } from '../drivers/email/errors.ts';
import { renderOrderEmail } from '../drivers/email/templates.ts';

/**
 * A provider's message with email addresses replaced: failure messages are stored in workflow
 * history in clear (the payload codec encrypts payloads, not failures), and an SMTP rejection
 * ("550 <buyer@…>: mailbox unavailable") names the buyer.
 */
const withoutAddresses = (message: string): string =>
  message.replaceAll(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, '[email]');

/**
 * A provider's answer, in the retry policy's terms: a rejected message is permanent; a 429 or
 * 503 with Retry-After is retried no sooner than the provider asked.
 */
function toActivityFailure(error: unknown): unknown {
  if (!(error instanceof EmailSendError)) return error;
  if (!error.retryable) {
    return ApplicationFailure.create({
      message: withoutAddresses(error.message),
      type: EMAIL_REJECTED,
      nonRetryable: true,
    });
  }
  if (error.retryAfterMs !== null) {
    return ApplicationFailure.create({
      message: withoutAddresses(error.message),
      type: 'EmailRetryLater',
      nextRetryDelay: error.retryAfterMs,
    });
  }
  error.message = withoutAddresses(error.message);
  return error;
}

/**
 * A guest's claim link for the receipt and the claim reminders: a new single-use token whose
 * hash is stored (the raw token exists only in the email).
 */
async function issueClaimUrl(
  db: Db,
  kind: OrderEmailKind,
  order: { customer_id: string; auth_user_id: string | null },
  links: DownloadLinkSigning | undefined,
): Promise<string | undefined> {
  const claimKinds: OrderEmailKind[] = ['delivery', 'claim_reminder_24h', 'claim_reminder_7d'];
  if (!links || order.auth_user_id !== null || !claimKinds.includes(kind)) return undefined;
  const { token, hash } = newClaimToken();
  await db
    .insertInto('claim_tokens')
    .values({
      token_hash: hash,
      customer_id: order.customer_id,
      expires_at: new Date(Date.now() + CLAIM_TOKEN_TTL_DAYS * 86_400_000),
      used_at: null,
      used_by: null,
    })
    .execute();
  return `${links.publicBaseUrl}/claim/${token}`;
}

export interface DownloadLinkSigning {
  publicBaseUrl: string;
  secrets: readonly string[];
}

export interface OrderEmailDeps {
  db: Db;
  email: EmailDriver;
  emailFrom: string;
  alerts: AlertSinks;
  /** Signs the receipt's download links; without it the receipt lists items only. */
  links?: DownloadLinkSigning | undefined;
}

/** One email of each kind per order: the idempotency key is the ledger's unique key. */
export function orderEmailKey(kind: OrderEmailKind, orderId: string, sequence = 1): string {
  return `${kind}:${orderId}:${sequence}`;
}

async function renderRecordedOrder(
  db: Db,
  orderId: string,
  kind: OrderEmailKind,
  links: DownloadLinkSigning | undefined,
) {
  const order = await db
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
  const entitlements = await db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select(['entitlements.id', 'products.title', 'products.formats'])
    .where('entitlements.order_id', '=', orderId)
    .orderBy('products.title')
    .execute();
  const expiresAt = new Date(Date.now() + DOWNLOAD_LINK_TTL_SECONDS * 1000);
  const items = entitlements.map(({ id, title, formats }) => ({
    title,
    formats,
    // Links point at /downloads/<token>, never at storage: each click re-checks access.
    ...((kind === 'delivery' || kind === 'resend') && links
      ? {
          links: formats.map((format) => ({
            format,
            url: `${links.publicBaseUrl}/downloads/${createDownloadToken({ entitlementId: id, format, expiresAt }, links.secrets)}`,
          })),
        }
      : {}),
  }));
  const rendered = renderOrderEmail(kind, {
    orderReference: order.purchase_key,
    items,
    amountTotal: order.amount_total,
    currency: order.currency,
    paidAt: order.paid_at,
    guest: order.auth_user_id === null,
    claimUrl: await issueClaimUrl(db, kind, order, links),
  });
  return { recipient: order.email, rendered };
}

export function createOrderEmailActivities({
  db,
  email,
  emailFrom,
  alerts,
  links,
}: OrderEmailDeps) {
  const activities = {
    /**
     * Sends an order's email through the ledger: the row is claimed by its idempotency key
     * first, and a key already sent is never sent again, however often this is retried.
     */
    async sendOrderEmail({
      orderId,
      kind,
      sequence,
    }: {
      orderId: string;
      kind: OrderEmailKind;
      /** The n-th email of this kind (resends); 1 for everything sent once per order. */
      sequence?: number;
    }): Promise<void> {
      const idempotencyKey = orderEmailKey(kind, orderId, sequence);
      let message = await db
        .selectFrom('email_deliveries')
        .select(['status', 'recipient', 'subject', 'html', 'text'])
        .where('idempotency_key', '=', idempotencyKey)
        .executeTakeFirst();
      if (message && message.status !== 'queued' && message.status !== 'failed') return;
      if (!message) {
        const { recipient, rendered } = await renderRecordedOrder(db, orderId, kind, links);
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
        // Whoever inserted first wins: every attempt sends exactly the recorded message, so a
        // provider's idempotency check sees the same payload on a retry.
        message = await db
          .selectFrom('email_deliveries')
          .select(['status', 'recipient', 'subject', 'html', 'text'])
          .where('idempotency_key', '=', idempotencyKey)
          .executeTakeFirstOrThrow();
      }
      await db
        .updateTable('email_deliveries')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: sql<Date>`now()` }))
        .where('idempotency_key', '=', idempotencyKey)
        .execute();
      const { recipient, subject, html, text } = message;
      try {
        const sent = await email.send({
          idempotencyKey,
          from: emailFrom,
          to: recipient,
          subject,
          html,
          text,
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
        const rejected = error instanceof EmailSendError && !error.retryable;
        await db
          .updateTable('email_deliveries')
          .set({
            last_error: error instanceof Error ? error.message : String(error),
            ...(rejected ? { status: 'failed' as const } : {}),
            updated_at: sql<Date>`now()`,
          })
          .where('idempotency_key', '=', idempotencyKey)
          .execute();
        throw toActivityFailure(error);
      }
    },

    /**
     * Sends the reminders due at a milestone, deciding from what the database says now:
     * a download reminder at 24 h when nothing was downloaded, a claim reminder at 24 h and
     * 7 d while the buyer has no account. Nothing for a suspended or revoked order.
     */
    async sendReminders({
      orderId,
      milestone,
    }: {
      orderId: string;
      milestone: ReminderMilestone;
    }): Promise<OrderEmailKind[]> {
      const state = await db
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
      if (!state || Number(state.usable) === 0) return [];
      const due: OrderEmailKind[] = [];
      if (milestone === '24h' && state.lastDownloadAt === null) due.push('download_reminder');
      if (state.auth_user_id === null)
        due.push(milestone === '24h' ? 'claim_reminder_24h' : 'claim_reminder_7d');
      for (const kind of due) await activities.sendOrderEmail({ orderId, kind });
      return due;
    },

    /** An email step failed twice: one alert per order and kind, not one per attempt. */
    async alertEmailFailing({
      jobId,
      orderId,
      kind,
      error,
    }: {
      jobId: string;
      orderId: string;
      kind: OrderEmailKind;
      error: string;
    }): Promise<void> {
      await raiseAlert(db, alerts, {
        key: `email_failing:${orderId}:${kind}`,
        kind: 'email.failing',
        severity: 'warning',
        summary: `${kind} email for order ${orderId} failed twice and keeps retrying: ${error}`,
        jobId,
        detail: { orderId, kind, error },
      });
    },
  };
  return activities;
}
