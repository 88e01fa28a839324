import { z } from 'zod';
import { OperationError, type Authorship, type OperationsDeps } from '../../support/context.ts';
import { resendLinks, restoreAccess, revokeAccess } from '../../support/entitlements.ts';
import { replayWebhookEvent } from '../../support/events.ts';
import { restoreProduct, revokeProduct } from '../../support/product-access.ts';
import { retryJob, type JobTimeline } from '../../support/jobs.ts';
import type { OperatorRole } from '../operator-auth.ts';

/** An input of an action's form besides the reason, which every action has. */
export type ActionField =
  | { name: string; label: string; kind: 'checkbox'; checked: boolean; hint: string }
  | {
      name: string;
      label: string;
      kind: 'select';
      hint: string;
      options: (purchase: JobTimeline) => { value: string; label: string }[];
    };

/**
 * One support action on a purchase, as the console offers it: a form (a reason plus `fields`),
 * a confirmation page, then `run` — the same support/ function the admin API and the CLI call,
 * which audits it with the agent's identity. Adding an action is adding one entry here.
 */
export interface ConsoleAction<Input = unknown> {
  id: string;
  /** The button and the heading: a verb phrase ("Resend download links"). */
  label: string;
  /** What it does, shown on the form and again on the confirmation page. */
  description: string;
  /** The lowest role that sees and may perform it (the admin API's role for the same call). */
  minimumRole: OperatorRole;
  fields: ActionField[];
  /** Parses the form's fields (checkboxes arrive as `on` or not at all). */
  input: z.ZodType<Input>;
  /** Whether the purchase offers it at all (a replay needs a recorded event). */
  applies?: (purchase: JobTimeline) => boolean;
  /** Performs it; answers the sentence the agent sees afterwards. */
  run(
    operations: OperationsDeps,
    purchase: JobTimeline,
    input: Input,
    who: Authorship,
  ): Promise<string>;
}

const checkbox = z.literal('on').optional().transform(Boolean);
/** Types `run`'s input by the action's own schema; the list holds them all alike. */
const defineAction = <Input>(action: ConsoleAction<Input>): ConsoleAction => action;

const webhookEvents = (purchase: JobTimeline) =>
  purchase.timeline
    .filter((entry) => entry.source === 'webhook')
    .map((entry) => {
      const eventId = String(entry.detail['eventId']);
      return { value: eventId, label: `${entry.event} — ${eventId}` };
    });

/** The purchase's products in a given entitlement status, as a select's options. */
const productsWhere =
  (wanted: (status: string) => boolean) =>
  (purchase: JobTimeline): { value: string; label: string }[] =>
    purchase.entitlements
      .filter((entitlement) => wanted(entitlement.status))
      .map((entitlement) => ({
        value: entitlement.sku,
        label: `${entitlement.title} (${entitlement.sku}) — ${entitlement.status}`,
      }));
const revocableProducts = productsWhere((status) => status !== 'revoked');
const revokedProducts = productsWhere((status) => status === 'revoked');
const skuInput = z.object({ sku: z.string().trim().min(1, 'choose a product').max(200) });

/** Refuses a SKU the form did not offer for this purchase (a forged or stale form). */
function offeredSku(options: { value: string }[], sku: string): string {
  if (!options.some((option) => option.value === sku))
    throw new OperationError('invalid', `sku: ${sku} is not one of this purchase's products`);
  return sku;
}

/** Every action the console offers on a purchase, in the order the page shows them. */
export const CONSOLE_ACTIONS: readonly ConsoleAction[] = [
  defineAction({
    id: 'resend',
    label: 'Resend download links',
    description:
      'Emails the buyer fresh download links for every product of this purchase (not held to the buyer’s hourly limit).',
    minimumRole: 'support',
    fields: [],
    input: z.object({}),
    async run(operations, purchase, _input, who) {
      const sent = await resendLinks(operations, purchase.orderId, who);
      return `Links resent to ${sent.recipient} (workflow ${sent.workflowId}).`;
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
    async run(operations, purchase, input, who) {
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
    async run(operations, purchase, input, who) {
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
    async run(operations, purchase, _input, who) {
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
    async run(operations, purchase, input, who) {
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
    async run(operations, purchase, input, who) {
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
    async run(operations, purchase, input, who) {
      if (!webhookEvents(purchase).some((e) => e.value === input.event_id))
        throw new OperationError(
          'invalid',
          `event_id: ${input.event_id} is not one of this purchase's`,
        );
      const plan = await replayWebhookEvent(operations, input.event_id, who);
      return `Replayed ${plan.eventId} (${plan.type}): ${plan.change}.`;
    },
  }),
];
