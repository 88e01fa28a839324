import type { OrderEmailKind } from '../../workflows/contracts.ts';

/** Escapes text for interpolation into HTML; every template value passes through it. */
export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/** Under the download links: how long they work and what to do after. */
export const LINK_VALIDITY =
  'Download links work for 48 hours; after that, sign in to your shelf or ask for a fresh link.';

/** The refund policy line every receipt carries. */
export const REFUND_POLICY =
  'Refunds: within 14 days of purchase, reply to this email. A refund revokes access to the files.';

export interface DeliveryEmailData {
  orderReference: string;
  /** A guest's claim link (`/claim/<token>`), when one could be issued. */
  claimUrl?: string | undefined;
  /** Each item with its formats and, when links can be signed, a download link per format. */
  items: { title: string; formats: string[]; links?: { format: string; url: string }[] }[];
  amountTotal: number | null;
  currency: string | null;
  paidAt: Date;
  guest: boolean;
  /** Cancellation only: some products of the order were taken back, the others stay. */
  partial?: boolean | undefined;
  /** Cancellation only: the refund or lost dispute behind it (amount, reason, timeline). */
  adjustment?: CancellationMoney | undefined;
}

export function formatAmount(amount: number, currency: string): string {
  return new Intl.NumberFormat('en', {
    style: 'currency',
    currency: currency.toUpperCase(),
  }).format(amount / 100);
}

function layout(title: string, bodyHtml: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body style="font-family:sans-serif;max-width:560px;margin:auto">${bodyHtml}</body></html>`;
}

/** The receipt a buyer gets once their purchase is on their shelf. */
export function renderDeliveryEmail(data: DeliveryEmailData): RenderedEmail {
  const subject = `Your order ${data.orderReference} is ready`;
  const amount =
    data.amountTotal !== null && data.currency
      ? formatAmount(data.amountTotal, data.currency)
      : null;
  const lines = data.items.map(
    (item) => `${item.title} (${item.formats.map((f) => f.toUpperCase()).join(', ')})`,
  );
  const claim = data.guest
    ? `You bought as a guest: create an account with this email address to keep your library.${data.claimUrl ? ` Claim it here: ${data.claimUrl}` : ''}`
    : 'Your purchase is on your shelf now.';
  const paid = data.paidAt.toISOString().slice(0, 10);
  const text = [
    'Thank you for your purchase.',
    '',
    `Order: ${data.orderReference}`,
    `Paid: ${paid}${amount ? ` — ${amount}` : ''}`,
    '',
    ...data.items.flatMap((item, i) => [
      `- ${lines[i]}`,
      ...(item.links ?? []).map((link) => `    ${link.format.toUpperCase()}: ${link.url}`),
    ]),
    '',
    ...(data.items.some((item) => item.links?.length) ? [LINK_VALIDITY, ''] : []),
    claim,
    '',
    REFUND_POLICY,
  ].join('\n');
  const html = layout(
    subject,
    [
      '<h1>Thank you for your purchase</h1>',
      `<p>Order <strong>${escapeHtml(data.orderReference)}</strong>, paid ${escapeHtml(paid)}${
        amount ? ` — ${escapeHtml(amount)}` : ''
      }</p>`,
      `<ul>${data.items
        .map(
          (item, i) =>
            `<li>${escapeHtml(lines[i]!)}${(item.links ?? [])
              .map(
                (link) =>
                  ` <a href="${escapeHtml(link.url)}">Download ${escapeHtml(link.format.toUpperCase())}</a>`,
              )
              .join('')}</li>`,
        )
        .join('')}</ul>`,
      data.items.some((item) => item.links?.length)
        ? `<p><small>${escapeHtml(LINK_VALIDITY)}</small></p>`
        : '',
      `<p>${escapeHtml(claim)}</p>`,
      `<p><small>${escapeHtml(REFUND_POLICY)}</small></p>`,
    ].join(''),
  );
  return { subject, html, text };
}

export interface CancellationEmailData {
  orderReference: string;
  items: { title: string }[];
  /** Some products of the order were taken back (an operator's per-product revoke). */
  partial?: boolean | undefined;
  /** The refund or lost dispute behind the cancellation, when there is one. */
  adjustment?: CancellationMoney | undefined;
}

/** A refund or lost dispute as the cancellation email states it. */
export interface CancellationMoney {
  kind: 'refund' | 'dispute';
  /** In the currency's minor unit (cents). */
  amount: number;
  currency: string | null;
  /** Stripe's reason code (`refund.reason`, `dispute.reason`). */
  reason: string | null;
}

/** Stripe's refund and dispute reason codes in the buyer's words. */
const REASON_WORDING: Record<string, string> = {
  // refund.reason
  requested_by_customer: 'you asked for a refund',
  duplicate: 'the payment was a duplicate',
  fraudulent: 'the payment was reported as fraudulent',
  expired_uncaptured_charge: 'the payment was never completed',
  // dispute.reason
  bank_cannot_process: 'your bank could not process the payment',
  check_returned: 'the payment was returned',
  credit_not_processed: 'a refund or credit was not processed',
  customer_initiated: 'you disputed the payment with your bank',
  debit_not_authorized: 'the payment was not authorized',
  general: 'you disputed the payment with your bank',
  incorrect_account_details: 'the account details were incorrect',
  insufficient_funds: 'the account had insufficient funds',
  noncompliant: 'your bank found the payment noncompliant',
  product_not_received: 'you reported the order as not received',
  product_unacceptable: 'you reported the order as unacceptable',
  subscription_canceled: 'you reported a cancelled subscription',
  unrecognized: 'you did not recognize the payment',
};

/** When the money arrives, as the email says it. */
export const REFUND_TIMELINE =
  'Refunds reach your card or account within 5–10 business days, depending on your bank.';
export const DISPUTE_TIMELINE =
  'Your bank returns the disputed amount to you on its own timeline; it has decided in your favour.';

/** The reason code in words: a known code's wording, an unknown one as Stripe spells it. */
export function reasonWording(reason: string | null): string | null {
  if (!reason) return null;
  return REASON_WORDING[reason] ?? reason.replaceAll('_', ' ');
}

/** The lines about the money: amount, reason and timeline. */
function moneyLines(money: CancellationMoney): string[] {
  const amount = money.currency ? formatAmount(money.amount, money.currency) : null;
  const reason = reasonWording(money.reason);
  if (money.kind === 'refund')
    return [
      `Refunded: ${amount ?? 'the amount shown on your payment'}.`,
      ...(reason ? [`Reason: ${reason}.`] : []),
      REFUND_TIMELINE,
    ];
  return [
    `Disputed amount: ${amount ?? 'the amount shown on your payment'}.`,
    ...(reason ? [`Reason: ${reason}.`] : []),
    DISPUTE_TIMELINE,
  ];
}

/** Sent once when a refund or a lost dispute revokes an order's access. */
export function renderCancellationEmail(data: CancellationEmailData): RenderedEmail {
  const subject = data.partial
    ? `Items of your order ${data.orderReference} were cancelled`
    : `Your order ${data.orderReference} was cancelled`;
  const intro = data.partial
    ? 'Part of your order was cancelled, so these items are no longer available to download (the rest of your order is unchanged):'
    : 'Your order was refunded or cancelled, so these items are no longer available to download:';
  const money = data.adjustment ? moneyLines(data.adjustment) : [];
  const text = [
    intro,
    '',
    ...data.items.map((item) => `- ${item.title}`),
    '',
    ...(money.length > 0 ? [...money, ''] : []),
    'Links sent earlier no longer work. Reply to this email if this is unexpected.',
  ].join('\n');
  const html = layout(
    subject,
    [
      `<h1>Order ${escapeHtml(data.orderReference)} cancelled</h1>`,
      `<p>${escapeHtml(intro)}</p>`,
      `<ul>${data.items.map((item) => `<li>${escapeHtml(item.title)}</li>`).join('')}</ul>`,
      ...money.map((line) => `<p>${escapeHtml(line)}</p>`),
      '<p>Links sent earlier no longer work. Reply to this email if this is unexpected.</p>',
    ].join(''),
  );
  return { subject, html, text };
}

export interface ReminderEmailData {
  orderReference: string;
  items: { title: string }[];
}

/**
 * 24 h after delivery, when nothing has been downloaded yet: with fresh download links (48 h
 * from the reminder) when they could be signed.
 */
export function renderDownloadReminderEmail(
  data: Omit<ReminderEmailData, 'items'> & {
    items: { title: string; links?: { format: string; url: string }[] }[];
  },
): RenderedEmail {
  const subject = `Your downloads for order ${data.orderReference} are waiting`;
  const intro = 'You have not downloaded your purchase yet. It is ready for you:';
  const linked = data.items.some((item) => (item.links ?? []).length > 0);
  const text = [
    intro,
    '',
    ...data.items.flatMap((item) => [
      `- ${item.title}`,
      ...(item.links ?? []).map((link) => `    ${link.format.toUpperCase()}: ${link.url}`),
    ]),
    ...(linked ? ['', LINK_VALIDITY] : []),
  ].join('\n');
  const html = layout(
    subject,
    `<p>${escapeHtml(intro)}</p><ul>${data.items
      .map(
        (item) =>
          `<li>${escapeHtml(item.title)}${(item.links ?? [])
            .map(
              (link) =>
                ` <a href="${escapeHtml(link.url)}">Download ${escapeHtml(link.format.toUpperCase())}</a>`,
            )
            .join('')}</li>`,
      )
      .join('')}</ul>${linked ? `<p><small>${escapeHtml(LINK_VALIDITY)}</small></p>` : ''}`,
  );
  return { subject, html, text };
}

/** 24 h and 7 d after a guest purchase, while the account is unclaimed. */
export function renderClaimReminderEmail(
  data: ReminderEmailData & { final: boolean; claimUrl?: string | undefined },
): RenderedEmail {
  const subject = data.final
    ? `Last reminder: keep your library for order ${data.orderReference}`
    : `Create your account to keep order ${data.orderReference}`;
  const intro =
    'You bought as a guest. Create an account with this email address so your purchases stay on your shelf:';
  return renderClaimEmail(subject, intro, data, 'Claim your library');
}

/** An email asking the buyer to claim: the intro, the order's titles and the claim link. */
function renderClaimEmail(
  subject: string,
  intro: string,
  data: { items: { title: string }[]; claimUrl?: string | undefined },
  linkLabel: string,
): RenderedEmail {
  const text = [
    intro,
    '',
    ...data.items.map((item) => `- ${item.title}`),
    ...(data.claimUrl ? ['', `${linkLabel}: ${data.claimUrl}`] : []),
  ].join('\n');
  const html = layout(
    subject,
    `<p>${escapeHtml(intro)}</p><ul>${data.items.map((item) => `<li>${escapeHtml(item.title)}</li>`).join('')}</ul>${
      data.claimUrl
        ? `<p><a href="${escapeHtml(data.claimUrl)}">${escapeHtml(linkLabel)}</a></p>`
        : ''
    }`,
  );
  return { subject, html, text };
}

/** Renders any order email from the order's facts (the one entry point for every kind). */
export function renderOrderEmail(kind: OrderEmailKind, order: DeliveryEmailData): RenderedEmail {
  switch (kind) {
    case 'delivery':
      return renderDeliveryEmail(order);
    case 'cancellation':
      return renderCancellationEmail(order);
    case 'download_reminder':
      return renderDownloadReminderEmail(order);
    case 'claim_reminder_24h':
      return renderClaimReminderEmail({ ...order, final: false });
    case 'claim_reminder_7d':
      return renderClaimReminderEmail({ ...order, final: true });
    case 'resend':
      return renderResendEmail(order);
    case 'claim_link':
      return renderClaimLinkEmail(order);
  }
}

/** A fresh claim link on request (support's reissue): earlier claim links no longer work. */
export function renderClaimLinkEmail(data: DeliveryEmailData): RenderedEmail {
  const subject = `Claim your library for order ${data.orderReference}`;
  const intro =
    'Here is a fresh link to add your purchase to your account. Links we sent before no longer work.';
  return renderClaimEmail(subject, intro, data, 'Claim it here');
}

/** Fresh download links on request (support or the storefront's "resend" button). */
export function renderResendEmail(data: DeliveryEmailData): RenderedEmail {
  const subject = `Your download links for order ${data.orderReference}`;
  const intro = 'Here are fresh download links for your purchase:';
  const lines = data.items.flatMap((item) => [
    `- ${item.title}`,
    ...(item.links ?? []).map((link) => `    ${link.format.toUpperCase()}: ${link.url}`),
  ]);
  const text = [intro, '', ...lines, '', LINK_VALIDITY].join('\n');
  const html = layout(
    subject,
    `<p>${escapeHtml(intro)}</p><ul>${data.items
      .map(
        (item) =>
          `<li>${escapeHtml(item.title)}${(item.links ?? [])
            .map(
              (link) =>
                ` <a href="${escapeHtml(link.url)}">Download ${escapeHtml(link.format.toUpperCase())}</a>`,
            )
            .join('')}</li>`,
      )
      .join('')}</ul><p><small>${escapeHtml(LINK_VALIDITY)}</small></p>`,
  );
  return { subject, html, text };
}
