import { z } from 'zod';
import type { AlertView } from '../../db/queries/alerts.ts';
import { DOWNLOADABLE } from '../../db/queries/shelf.ts';
import { acknowledgeAlert, resolveAlert, type AlertSinks } from '../../support/alerts.ts';
import { reissueClaimLink } from '../../support/claims.ts';
import { OperationError, type Authorship, type OperationsDeps } from '../../support/context.ts';
import {
  issueTemporaryLink,
  revokeTemporaryDownloadLink,
  TEMPORARY_LINK_DEFAULT_HOURS,
  TEMPORARY_LINK_MAX_HOURS,
  type TemporaryLink,
} from '../../support/download-links.ts';
import { deletePersonalData, type DsarReport } from '../../support/dsar.ts';
import { resendLinks, restoreAccess, revokeAccess } from '../../support/entitlements.ts';
import { replayWebhookEvent } from '../../support/events.ts';
import { retryJob, type JobTimeline } from '../../support/jobs.ts';
import { checkVerification, mergeCustomers, VERIFICATION_KINDS } from '../../support/merges.ts';
import { restoreProduct, revokeProduct } from '../../support/product-access.ts';
import { checkEntitlementStorage, type StorageCheck } from '../../support/storage-check.ts';
import type { OperatorRole } from '../operator-auth.ts';

/** An input of an action's form besides the reason, which every action has. */
export type ActionField<Target = JobTimeline> =
  | { name: string; label: string; kind: 'checkbox'; checked: boolean; hint: string }
  | {
      name: string;
      label: string;
      kind: 'select';
      hint: string;
      options: (target: Target) => { value: string; label: string }[];
    }
  | {
      name: string;
      label: string;
      kind: 'text';
      /** The input's type: the browser's own checks and keyboard, not the only check. */
      type: 'text' | 'email' | 'number' | 'date';
      required: boolean;
      /** What the form starts with (none: empty). */
      value?: string;
      min?: number;
      max?: number;
      hint: string;
    };

/** What actions reach besides the support/ operations' own dependencies. */
export interface ConsoleDeps {
  operations: OperationsDeps;
  /** Where acknowledging or resolving an alert is announced (PagerDuty's events). */
  alertSinks: AlertSinks;
}

/**
 * A result the agent reads once, on the page that answers the confirmation: never kept in the
 * session or shown again (a temporary link's URLs, a check's findings, a DSAR's report).
 */
export type ActionReport =
  | { kind: 'temporary-link'; message: string; product: string; link: TemporaryLink }
  | { kind: 'storage-check'; message: string; product: string; check: StorageCheck }
  | { kind: 'dsar'; message: string; report: DsarReport };

/**
 * What an action answers: a sentence, shown on the page it returns to, or a report, shown as
 * the answer to the confirmation itself.
 */
export type ActionOutcome = string | ActionReport;

/**
 * One support action on a purchase (or an alert), as the console offers it: a form (a reason
 * plus `fields`), a confirmation page, then `run` — the same support/ function the admin API
 * and the CLI call, which audits it with the agent's identity. Adding an action is adding one
 * entry to a list here.
 */
export interface ConsoleAction<Target = JobTimeline, Input = unknown> {
  id: string;
  /** The button and the heading: a verb phrase ("Resend download links"). */
  label: string;
  /** What it does, shown on the form and again on the confirmation page. */
  description: string;
  /** The lowest role that sees and may perform it (the admin API's role for the same call). */
  minimumRole: OperatorRole;
  fields: ActionField<Target>[];
  /** Parses the form's fields (checkboxes arrive as `on` or not at all). */
  input: z.ZodType<Input>;
  /** Whether the target offers it at all (a replay needs a recorded event). */
  applies?: (target: Target) => boolean;
  /**
   * Why these inputs do not fit this target (a value typed to confirm that does not match),
   * or null; checked before the confirmation page and again before `run`.
   */
  mismatch?(target: Target, input: Input): string | null;
  /** Performs it; answers what the agent sees afterwards. */
  run(deps: ConsoleDeps, target: Target, input: Input, who: Authorship): Promise<ActionOutcome>;
}

const checkbox = z.literal('on').optional().transform(Boolean);
/** Types `run`'s input by the action's own schema; the list holds them all alike. */
const defineAction = <Input>(action: ConsoleAction<JobTimeline, Input>): ConsoleAction => action;
const defineAlertAction = <Input>(
  action: ConsoleAction<AlertView, Input>,
): ConsoleAction<AlertView> => action;

const webhookEvents = (purchase: JobTimeline) =>
  purchase.timeline
    .filter((entry) => entry.source === 'webhook')
    .map((entry) => {
      const eventId = String(entry.detail['eventId']);
      return { value: eventId, label: `${entry.event} — ${eventId}` };
    });

type Entitlement = JobTimeline['entitlements'][number];
const productLabel = (entitlement: Entitlement) =>
  `${entitlement.title} (${entitlement.sku}) — ${entitlement.status}`;

/** The purchase's products in a given entitlement status, as a select's options. */
const productsWhere =
  (wanted: (status: string) => boolean) =>
  (purchase: JobTimeline): { value: string; label: string }[] =>
    purchase.entitlements
      .filter((entitlement) => wanted(entitlement.status))
      .map((entitlement) => ({ value: entitlement.sku, label: productLabel(entitlement) }));
const revocableProducts = productsWhere((status) => status !== 'revoked');
const revokedProducts = productsWhere((status) => status === 'revoked');
const skuInput = z.object({ sku: z.string().trim().min(1, 'choose a product').max(200) });

/** The purchase's entitlements a support operation may take, by id (a select's options). */
const entitlementsWhere =
  (wanted: (status: string) => boolean) =>
  (purchase: JobTimeline): { value: string; label: string }[] =>
    purchase.entitlements
      .filter((entitlement) => wanted(entitlement.status))
      .map((entitlement) => ({ value: entitlement.id, label: productLabel(entitlement) }));
const downloadableEntitlements = entitlementsWhere((status) =>
  (DOWNLOADABLE as readonly string[]).includes(status),
);
const everyEntitlement = entitlementsWhere(() => true);
const entitlementInput = z.object({
  entitlement: z.string().trim().min(1, 'choose a product').max(200),
});

/**
 * The purchase's temporary download links that still work, from its audit entries (issued,
 * not withdrawn, not expired), as a select's options. A storage check's own link is withdrawn
 * by the check, so it never shows.
 */
const liveTemporaryLinks = (purchase: JobTimeline): { value: string; label: string }[] => {
  const audits = purchase.timeline.filter((entry) => entry.source === 'audit');
  const withdrawn = new Set(
    audits
      .filter((entry) => entry.event === 'download_link.revoked')
      .map((entry) => String(entry.detail['linkId'])),
  );
  const titles = new Map(purchase.entitlements.map((e) => [e.id, `${e.title} (${e.sku})`]));
  return audits
    .filter(
      (entry) =>
        entry.event === 'download_link.issued' &&
        !withdrawn.has(String(entry.detail['linkId'])) &&
        new Date(String(entry.detail['expiresAt'])).getTime() > Date.now(),
    )
    .map((entry) => {
      const linkId = String(entry.detail['linkId']);
      const product = titles.get(String(entry.detail['target'])) ?? 'a product';
      return {
        value: linkId,
        label: `${product} — by ${String(entry.detail['actor'])}, expires ${String(entry.detail['expiresAt']).slice(0, 16).replace('T', ' ')} UTC — ${linkId}`,
      };
    });
};

/** Refuses a SKU the form did not offer for this purchase (a forged or stale form). */
function offeredSku(options: { value: string }[], sku: string): string {
  if (!options.some((option) => option.value === sku))
    throw new OperationError('invalid', `sku: ${sku} is not one of this purchase's products`);
  return sku;
}

/** The offered entitlement an id names, or a refusal (a forged or stale form). */
function offeredEntitlement(
  purchase: JobTimeline,
  options: { value: string }[],
  id: string,
): Entitlement {
  const entitlement = purchase.entitlements.find((e) => e.id === id);
  if (!entitlement || !options.some((option) => option.value === id))
    throw new OperationError('invalid', `product: ${id} is not one of this purchase's products`);
  return entitlement;
}

/** The anonymised address a DSAR erasure leaves on the customer (db/queries/dsar.ts). */
const ERASED = /@redacted\.invalid$/;

/** An optional text input: empty is absent. */
const optionalText = z
  .string()
  .trim()
  .max(200, '200 characters at most')
  .optional()
  .transform((value) => value || undefined);

/** What the merge form asks for each data point support/merges.ts knows. */
const VERIFICATION_FIELDS: Record<
  (typeof VERIFICATION_KINDS)[number],
  { label: string; type: 'text' | 'date'; hint: string }
> = {
  order_id: {
    label: 'Order id the buyer quotes',
    type: 'text',
    hint: 'Checked against the orders being moved.',
  },
  payment_intent: {
    label: 'Payment intent the buyer quotes (pi_…)',
    type: 'text',
    hint: 'Checked against the orders being moved.',
  },
  purchase_date: {
    label: 'Purchase date the buyer gives',
    type: 'date',
    hint: 'YYYY-MM-DD (UTC); checked against the orders being moved.',
  },
  last4: {
    label: 'Card’s last four digits',
    type: 'text',
    hint: 'Attested: you checked it in Stripe.',
  },
  billing_postcode: {
    label: 'Billing postcode',
    type: 'text',
    hint: 'Attested: you checked it in Stripe.',
  },
  billing_name: {
    label: 'Billing name',
    type: 'text',
    hint: 'Attested: you checked it in Stripe.',
  },
};
const verifyField = (kind: (typeof VERIFICATION_KINDS)[number]) => `verify_${kind}`;

const mergeInput = z
  .object({
    to: z
      .string({ error: 'to: an email address or a customer id' })
      .trim()
      .min(3, 'to: an email address or a customer id')
      .max(320),
    ...Object.fromEntries(VERIFICATION_KINDS.map((kind) => [verifyField(kind), optionalText])),
  })
  .transform((fields, context) => {
    const values = fields as Record<string, string | undefined>;
    const verification = VERIFICATION_KINDS.flatMap((kind) => {
      const value = values[verifyField(kind)];
      return value ? [{ kind, value }] : [];
    });
    try {
      // support/merges.ts's own rules (two kinds at least, each value's form), before review.
      checkVerification(verification);
    } catch (error) {
      if (!(error instanceof OperationError)) throw error;
      context.addIssue({
        code: 'custom',
        message: error.message.replaceAll(/verification\[(\d+)\]\.value/g, (_, index: string) =>
          VERIFICATION_FIELDS[verification[Number(index)]!.kind].label.toLowerCase(),
        ),
      });
      return z.NEVER;
    }
    return { to: fields.to, verification };
  });

/** Every action the console offers on a purchase, in the order the page shows them. */
export const PURCHASE_ACTIONS: readonly ConsoleAction[] = [
  defineAction({
    id: 'resend',
    label: 'Resend download links',
    description:
      'Emails the buyer fresh download links for every product of this purchase (not held to the buyer’s hourly limit).',
    minimumRole: 'support',
    fields: [],
    input: z.object({}),
    async run({ operations }, purchase, _input, who) {
      const sent = await resendLinks(operations, purchase.orderId, who);
      return `Links resent to ${sent.recipient} (workflow ${sent.workflowId}).`;
    },
  }),
  defineAction({
    id: 'claim-reissue',
    label: 'Send a fresh claim link',
    description:
      'Emails the guest a new link to claim this purchase into an account; every older claim link stops working. Three an hour per buyer.',
    minimumRole: 'support',
    fields: [],
    input: z.object({}),
    applies: (purchase) => purchase.customerStatus === 'pending_claim',
    async run({ operations }, purchase, _input, who) {
      const reissue = await reissueClaimLink(operations, purchase.orderId, who);
      return `Claim link ${reissue.sequence} emailed to ${reissue.recipient}; ${reissue.expiredLinks} older claim link(s) stopped working.`;
    },
  }),
  defineAction({
    id: 'temporary-link',
    label: 'Create a temporary download link',
    description:
      'For a mailbox that blocks our emails: a download link for one product that you pass on to the buyer yourself. It is shown to you once, and checks the buyer’s access on every click.',
    minimumRole: 'support',
    fields: [
      {
        name: 'entitlement',
        label: 'Product',
        kind: 'select',
        hint: 'The products of this purchase the buyer may download.',
        options: downloadableEntitlements,
      },
      {
        name: 'expires_in_hours',
        label: 'Expires after (hours)',
        kind: 'text',
        type: 'number',
        required: true,
        value: String(TEMPORARY_LINK_DEFAULT_HOURS),
        min: 1,
        max: TEMPORARY_LINK_MAX_HOURS,
        hint: `${TEMPORARY_LINK_DEFAULT_HOURS} unless the buyer needs longer; ${TEMPORARY_LINK_MAX_HOURS} (7 days) at most.`,
      },
    ],
    input: entitlementInput.extend({
      expires_in_hours: z.coerce
        .number({ error: 'expires_in_hours: a whole number of hours' })
        .int('expires_in_hours: a whole number of hours')
        .min(1, 'expires_in_hours: at least 1')
        .max(TEMPORARY_LINK_MAX_HOURS, `expires_in_hours: at most ${TEMPORARY_LINK_MAX_HOURS}`),
    }),
    applies: (purchase) => downloadableEntitlements(purchase).length > 0,
    async run({ operations }, purchase, input, who) {
      const entitlement = offeredEntitlement(
        purchase,
        downloadableEntitlements(purchase),
        input.entitlement,
      );
      const link = await issueTemporaryLink(
        operations,
        entitlement.id,
        { expiresInHours: input.expires_in_hours },
        who,
      );
      return {
        kind: 'temporary-link',
        message: `Temporary link for ${entitlement.title} created; it expires after ${input.expires_in_hours} hour(s).`,
        product: `${entitlement.title} (${entitlement.sku})`,
        link,
      };
    },
  }),
  defineAction({
    id: 'revoke-temporary-link',
    label: 'Withdraw a temporary download link',
    description:
      'The buyer has the file, or the link went to the wrong person: its next click is refused. The buyer’s emailed links are not touched.',
    minimumRole: 'support',
    fields: [
      {
        name: 'link',
        label: 'Link',
        kind: 'select',
        hint: 'The temporary links of this purchase that still work.',
        options: liveTemporaryLinks,
      },
    ],
    input: z.object({ link: z.string().trim().min(1, 'choose a link').max(200) }),
    applies: (purchase) => liveTemporaryLinks(purchase).length > 0,
    async run({ operations }, purchase, input, who) {
      if (!liveTemporaryLinks(purchase).some((option) => option.value === input.link))
        throw new OperationError(
          'invalid',
          `link: ${input.link} is not a working temporary link of this purchase`,
        );
      const revoked = await revokeTemporaryDownloadLink(operations, input.link, who);
      return `Temporary link ${revoked.linkId} withdrawn: its next click is refused.`;
    },
  }),
  defineAction({
    id: 'storage-check',
    label: 'Check a product’s files',
    description:
      'For a failed download: whether each file of one product is in storage, and a test download of each through the buyer’s own path (status and size). Changes nothing; the test download is logged like any download.',
    minimumRole: 'support',
    fields: [
      {
        name: 'entitlement',
        label: 'Product',
        kind: 'select',
        hint: 'Any product of this purchase.',
        options: everyEntitlement,
      },
    ],
    input: entitlementInput,
    applies: (purchase) => purchase.entitlements.length > 0,
    async run({ operations }, purchase, input, who) {
      const entitlement = offeredEntitlement(
        purchase,
        everyEntitlement(purchase),
        input.entitlement,
      );
      const check = await checkEntitlementStorage(operations, entitlement.id, who);
      const working = check.files.filter((file) => file.exists && file.download.status === 200);
      return {
        kind: 'storage-check',
        message: `${entitlement.title}: ${working.length} of ${check.files.length} file(s) in storage and downloadable.`,
        product: `${entitlement.title} (${entitlement.sku})`,
        check,
      };
    },
  }),
  defineAction({
    id: 'retry',
    label: 'Retry the fulfillment',
    description:
      'Starts the fulfillment workflow again when its last run failed or Temporal lost it. A completed run is never repeated.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'restart',
        label: 'Restart a running workflow',
        kind: 'checkbox',
        checked: false,
        hint: 'Terminates the running run and starts a fresh one; every step is idempotent.',
      },
    ],
    input: z.object({ restart: checkbox }),
    async run({ operations }, purchase, input, who) {
      const outcome = await retryJob(operations, purchase.orderId, {
        ...who,
        restart: input.restart,
      });
      return `Retry: ${outcome.message}.`;
    },
  }),
  defineAction({
    id: 'revoke',
    label: 'Revoke access',
    description:
      'Revokes every product of this purchase: emailed links stop working at once and reminders stop.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'notify_buyer',
        label: 'Email the buyer a cancellation notice',
        kind: 'checkbox',
        checked: true,
        hint: 'One cancellation email per order.',
      },
    ],
    input: z.object({ notify_buyer: checkbox }),
    async run({ operations }, purchase, input, who) {
      const change = await revokeAccess(operations, purchase.orderId, who, {
        notifyBuyer: input.notify_buyer,
      });
      return `Access is now ${change.status}${change.cancellationWorkflowId ? '; the buyer is emailed a cancellation notice' : ''}.`;
    },
  }),
  defineAction({
    id: 'restore',
    label: 'Restore access',
    description:
      'Undoes an operator’s or a reward’s revocation. Refused while a full refund or a dispute stands.',
    minimumRole: 'admin',
    fields: [],
    input: z.object({}),
    async run({ operations }, purchase, _input, who) {
      const change = await restoreAccess(operations, purchase.orderId, who);
      return `Access is now ${change.status}.`;
    },
  }),
  defineAction({
    id: 'revoke-product',
    label: 'Revoke one product',
    description:
      'Revokes one product of this purchase for its buyer: its links stop working, the other products stay.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'sku',
        label: 'Product',
        kind: 'select',
        hint: 'The products of this purchase that are not revoked.',
        options: revocableProducts,
      },
      {
        name: 'notify_buyer',
        label: 'Email the buyer a cancellation notice naming the product',
        kind: 'checkbox',
        checked: true,
        hint: 'One email per revoked product.',
      },
    ],
    input: skuInput.extend({ notify_buyer: checkbox }),
    applies: (purchase) =>
      purchase.entitlements.length > 1 && revocableProducts(purchase).length > 0,
    async run({ operations }, purchase, input, who) {
      const sku = offeredSku(revocableProducts(purchase), input.sku);
      const outcome = await revokeProduct(
        operations,
        { customer: purchase.email, sku, order: purchase.orderId },
        who,
        { notifyBuyer: input.notify_buyer },
      );
      const emailed = outcome.entitlements.some((change) => change.cancellationWorkflowId);
      return `${sku} revoked${emailed ? '; the buyer is emailed a cancellation notice' : ''}.`;
    },
  }),
  defineAction({
    id: 'restore-product',
    label: 'Restore one product',
    description:
      'Restores one revoked product of this purchase. Refused while a refund, a dispute or a whole-order revocation stands.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'sku',
        label: 'Product',
        kind: 'select',
        hint: 'The revoked products of this purchase.',
        options: revokedProducts,
      },
    ],
    input: skuInput,
    applies: (purchase) => revokedProducts(purchase).length > 0,
    async run({ operations }, purchase, input, who) {
      const sku = offeredSku(revokedProducts(purchase), input.sku);
      const outcome = await restoreProduct(
        operations,
        { customer: purchase.email, sku, order: purchase.orderId },
        who,
      );
      const statuses = outcome.entitlements.map((entitlement) => entitlement.status).join(', ');
      return `${sku} restored (${statuses}).`;
    },
  }),
  defineAction({
    id: 'replay',
    label: 'Replay a webhook event',
    description:
      'Runs a recorded Stripe event through the path it took when it arrived; only what did not happen changes.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'event_id',
        label: 'Event',
        kind: 'select',
        hint: 'The Stripe events recorded for this purchase.',
        options: webhookEvents,
      },
    ],
    input: z.object({ event_id: z.string().trim().min(1, 'choose an event').max(200) }),
    applies: (purchase) => webhookEvents(purchase).length > 0,
    async run({ operations }, purchase, input, who) {
      if (!webhookEvents(purchase).some((e) => e.value === input.event_id))
        throw new OperationError(
          'invalid',
          `event_id: ${input.event_id} is not one of this purchase's`,
        );
      const plan = await replayWebhookEvent(operations, input.event_id, who);
      return `Replayed ${plan.eventId} (${plan.type}): ${plan.change}.`;
    },
  }),
  defineAction({
    id: 'merge',
    label: 'Move purchases to another email',
    description:
      'Moves every purchase of this buyer (not only this one) to another email or customer: the same orders, no new one. Needs at least two data points of different kinds that you verified with the buyer; they are recorded with the merge.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'to',
        label: 'Move to (email address or customer id)',
        kind: 'text',
        type: 'text',
        required: true,
        hint: 'A new address gets a guest profile; an address with an account gets the purchases at once.',
      },
      ...VERIFICATION_KINDS.map((kind) => ({
        name: verifyField(kind),
        kind: 'text' as const,
        required: false,
        ...VERIFICATION_FIELDS[kind],
      })),
    ],
    input: mergeInput,
    applies: (purchase) => !ERASED.test(purchase.email),
    async run({ operations }, purchase, input, who) {
      const merged = await mergeCustomers(
        operations,
        { from: purchase.email, to: input.to, verification: input.verification },
        who,
      );
      const verified = merged.verification.map((point) => `${point.kind} (${point.check})`);
      return `Moved ${merged.orders.length} purchase(s) and ${merged.entitlementsMoved} product(s) to ${input.to}${merged.toCreated ? ' (a new guest profile)' : ''}; verified: ${verified.join(', ')}; merge ${merged.mergeId}.`;
    },
  }),
  defineAction({
    id: 'dsar-erase',
    label: 'Erase the buyer’s personal data (DSAR)',
    description:
      'A data subject’s deletion request, for this buyer’s address: revokes access to every purchase (no email), stops reminders, then deletes or redacts the address wherever it is stored. Orders and amounts stay for finance, anonymised. Cannot be undone. Refused while a purchase is still being delivered.',
    minimumRole: 'admin',
    fields: [
      {
        name: 'email',
        label: 'The buyer’s email address, typed to confirm',
        kind: 'text',
        type: 'email',
        required: true,
        hint: 'Every record of this address is erased, across all its purchases.',
      },
    ],
    input: z.object({
      email: z
        .string({ error: 'email: type the buyer’s email address' })
        .trim()
        .toLowerCase()
        .min(3, 'email: type the buyer’s email address')
        .max(320),
    }),
    applies: (purchase) => !ERASED.test(purchase.email),
    mismatch: (purchase, input) =>
      input.email === purchase.email.toLowerCase()
        ? null
        : 'email: that is not this purchase’s buyer; type the address exactly',
    async run({ operations }, _purchase, input, who) {
      const report = await deletePersonalData(operations, input.email, who);
      const failed = report.steps.filter((step) => step.outcome === 'failed');
      return {
        kind: 'dsar',
        message: `Personal data erased: ${report.customers} customer record(s)${failed.length ? `; ${failed.length} step(s) failed, see below` : ''}.`,
        report,
      };
    },
  }),
];

/** What acknowledging or resolving said, as a sentence. */
const transitioned = (
  { alert, changed }: { alert: AlertView; changed: boolean },
  verb: string,
): string =>
  changed
    ? `Alert ${alert.id} ${verb}; its alert sinks are told.`
    : `Alert ${alert.id} was already ${alert.status}: nothing changed.`;

/** Every action the console offers on an alert (the admin API's ack and resolve). */
export const ALERT_ACTIONS: readonly ConsoleAction<AlertView>[] = [
  defineAlertAction({
    id: 'acknowledge',
    label: 'Acknowledge the alert',
    description:
      'You are on it: the alert is acknowledged under your name, and PagerDuty stops escalating it.',
    minimumRole: 'support',
    fields: [],
    input: z.object({}),
    applies: (alert) => alert.status === 'open',
    async run({ operations, alertSinks }, alert, _input, who) {
      return transitioned(
        await acknowledgeAlert(operations.db, alertSinks, alert.id, who),
        'acknowledged',
      );
    },
  }),
  defineAlertAction({
    id: 'resolve',
    label: 'Resolve the alert',
    description:
      'The cause is fixed: the alert is closed under your name, and PagerDuty resolves it.',
    minimumRole: 'support',
    fields: [],
    input: z.object({}),
    applies: (alert) => alert.status !== 'resolved',
    async run({ operations, alertSinks }, alert, _input, who) {
      return transitioned(await resolveAlert(operations.db, alertSinks, alert.id, who), 'resolved');
    },
  }),
];
