import { ApplicationFailure } from '@temporalio/common';
import { CLAIM_TOKEN_TTL_DAYS, newClaimToken } from '../security/claim-tokens.ts';
import { createDownloadToken, DOWNLOAD_LINK_TTL_SECONDS } from '../security/download-links.ts';
import type { Db } from '../db/database.ts';
import {
  claimOrderEmailAttempt,
  countOrderEmailAttempt,
  findOrderForEmail,
  findReminderState,
  markOrderEmailSent,
  recordOrderEmailError,
  type OrderForEmail,
} from '../db/queries/order-emails.ts';
import { findCancellationAdjustment } from '../db/queries/adjustments.ts';
import type { NewClaimToken } from '../db/tables/claim-tokens.ts';
import { fulfillmentLatency } from '../observability/metrics.ts';
import {
  EMAIL_REJECTED,
  type OrderEmailKind,
  type ReminderMilestone,
} from '../workflows/contracts.ts';
import { raiseAlert, type AlertSinks } from '../support/alerts.ts';
import type { EmailDriver, SentEmail } from '../drivers/email/driver.ts';
import { EmailSendError } from '../drivers/email/errors.ts';
import { renderOrderEmail, type CancellationMoney } from '../drivers/email/templates.ts';

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
 * hash is stored with the email's ledger row (the raw token exists only in the email).
 */
function issueClaimUrl(
  kind: OrderEmailKind,
  order: { customer_id: string; auth_user_id: string | null },
  links: DownloadLinkSigning | undefined,
): {
  url: string;
  stored: Pick<NewClaimToken, 'token_hash' | 'customer_id' | 'expires_at'> & {
    supersedes: boolean;
  };
} | null {
  const claimKinds: OrderEmailKind[] = [
    'delivery',
    'claim_reminder_24h',
    'claim_reminder_7d',
    'claim_link',
  ];
  if (!links || order.auth_user_id !== null || !claimKinds.includes(kind)) return null;
  const { token, hash } = newClaimToken();
  return {
    url: `${links.publicBaseUrl}/claim/${token}`,
    stored: {
      token_hash: hash,
      customer_id: order.customer_id,
      expires_at: new Date(Date.now() + CLAIM_TOKEN_TTL_DAYS * 86_400_000),
      // A reissued link replaces every earlier one (support's `claims reissue`).
      supersedes: kind === 'claim_link',
    },
  };
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

function renderRecordedOrder(
  order: OrderForEmail,
  kind: OrderEmailKind,
  links: DownloadLinkSigning | undefined,
  sequence = 1,
  adjustment?: CancellationMoney,
) {
  const expiresAt = new Date(Date.now() + DOWNLOAD_LINK_TTL_SECONDS * 1000);
  // A cancellation after the first is an operator's per-product revoke: it lists the products
  // taken back, not the ones the buyer keeps.
  const partial = kind === 'cancellation' && sequence > 1;
  const listed = partial ? order.items.filter((item) => item.status === 'revoked') : order.items;
  const items = listed.map(({ id, title, formats }) => ({
    title,
    formats,
    // Links point at /downloads/<token>, never at storage: each click re-checks access. The
    // 24 h download reminder carries fresh ones: the receipt's may be lost or about to expire.
    ...((kind === 'delivery' || kind === 'resend' || kind === 'download_reminder') && links
      ? {
          links: formats.map((format) => ({
            format,
            url: `${links.publicBaseUrl}/downloads/${createDownloadToken({ entitlementId: id, format, expiresAt }, links.secrets)}`,
          })),
        }
      : {}),
  }));
  const claim = issueClaimUrl(kind, order, links);
  const rendered = renderOrderEmail(kind, {
    orderReference: order.purchase_key,
    items,
    amountTotal: order.amount_total,
    currency: order.currency,
    paidAt: order.paid_at,
    guest: order.auth_user_id === null,
    claimUrl: claim?.url,
    partial,
    adjustment,
  });
  return { recipient: order.email, rendered, claimToken: claim?.stored ?? null };
}

/** One send attempt of an order email through the ledger; what it found and what it sent. */
export interface OrderEmailAttempt {
  order: OrderForEmail;
  idempotencyKey: string;
  /** What the provider accepted in this attempt; null when the key was sent before. */
  sent: SentEmail | null;
}

/**
 * Attempts an order email through the ledger: the row is claimed by its idempotency key first
 * (recorded on the first attempt, counted on every one), and a key already sent is never sent
 * again, however often this is retried. Three round trips when it sends: the order with the
 * ledger's row, the claim, and (the caller's) marking it sent. A failed attempt records its
 * error and throws in the retry policy's terms.
 */
export async function attemptOrderEmail(
  { db, email, emailFrom, links }: OrderEmailDeps,
  { orderId, kind, sequence }: { orderId: string; kind: OrderEmailKind; sequence?: number },
): Promise<OrderEmailAttempt> {
  const idempotencyKey = orderEmailKey(kind, orderId, sequence);
  const order = await findOrderForEmail(db, orderId, idempotencyKey);
  const settled = (status: string) => status !== 'queued' && status !== 'failed';
  if (order.recorded && settled(order.recorded.status))
    return { order, idempotencyKey, sent: null };
  let message;
  if (order.recorded) {
    message = await countOrderEmailAttempt(db, idempotencyKey);
  } else {
    // A whole-order cancellation comes from a refund or a lost dispute: the email says how much,
    // why and when the money arrives. An operator's per-product revoke (sequence > 1) does not.
    const adjustment =
      kind === 'cancellation' && (sequence ?? 1) === 1
        ? await findCancellationAdjustment(db, order.purchase_key)
        : undefined;
    const { recipient, rendered, claimToken } = renderRecordedOrder(
      order,
      kind,
      links,
      sequence,
      adjustment,
    );
    message = await claimOrderEmailAttempt(
      db,
      { idempotency_key: idempotencyKey, kind, recipient, order_id: orderId, ...rendered },
      claimToken,
    );
  }
  // Sent by a concurrent attempt between the two statements.
  if (!message) return { order, idempotencyKey, sent: null };
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
    return { order, idempotencyKey, sent };
  } catch (error) {
    const rejected = error instanceof EmailSendError && !error.retryable;
    await recordOrderEmailError(db, idempotencyKey, {
      error: error instanceof Error ? error.message : String(error),
      rejected,
    });
    throw toActivityFailure(error);
  }
}

/**
 * Observes `fulfillment_latency_seconds` (payment → receipt sent) when an order's receipt was
 * sent for the first time, from the figures the send already has: no extra reads.
 */
export function observeReceiptLatency(paidAt: Date, sentAt: Date): void {
  fulfillmentLatency.observe(Math.max(0, (sentAt.getTime() - paidAt.getTime()) / 1000));
}

export function createOrderEmailActivities(deps: OrderEmailDeps) {
  const { db, alerts } = deps;
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
      const attempt = await attemptOrderEmail(deps, { orderId, kind, sequence });
      if (!attempt.sent) return;
      const sentAt = await markOrderEmailSent(db, attempt.idempotencyKey, attempt.sent);
      if (kind === 'delivery' && sentAt) observeReceiptLatency(attempt.order.paid_at, sentAt);
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
      const state = await findReminderState(db, orderId);
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
