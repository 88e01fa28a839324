import { z } from 'zod';
import {
  disputeWorkflowId,
  fulfillmentWorkflowId,
  refundIdOf,
  refundWorkflowId,
  type FulfillmentInput,
  type PaymentAdjustmentInput,
} from '../workflows/contracts.ts';
import { isStorableText } from '../db/storable.ts';

/** What the gateway does with a verified event. */
export type StripeRoute =
  | {
      action: 'fulfill';
      workflowId: string;
      input: FulfillmentInput;
      /**
       * The event carries the purchase (a Checkout Session): it is signalled into the run,
       * started if need be, so a run that a payment intent started first reads it.
       */
      deliverToRun?: boolean;
    }
  /**
   * A refund or dispute of the payment intent's purchase: its run carries `PaymentIntentId`
   * from the start, so the Temporal UI lists it with the purchase's fulfillment.
   */
  | { action: 'refund'; workflowId: string; input: PaymentAdjustmentInput; paymentIntentId: string }
  | {
      action: 'dispute';
      workflowId: string;
      input: PaymentAdjustmentInput;
      paymentIntentId: string;
    }
  /** Recorded for the timeline and support, never fulfilled (a failed payment, say). */
  | { action: 'record'; note: string }
  /** A type fulfillment does not depend on. */
  | { action: 'ignore' }
  /** A handled type whose payload lacks what we need: recorded as failed. */
  | { action: 'reject'; error: string };

/** Every event type the gateway acts on; anything else is acknowledged and recorded as ignored. */
export const HANDLED_STRIPE_EVENT_TYPES = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.closed',
] as const;

/**
 * A Stripe object id as it becomes a workflow id and a key in PostgreSQL: never a U+0000 (which
 * PostgreSQL cannot store) or a lone surrogate, and short.
 */
const stripeId = z.string().min(1).max(255).refine(isStorableText, 'not a Stripe id');

const idOf = z
  .union([stripeId, z.object({ id: stripeId })])
  .nullish()
  .transform((value) => (value == null ? null : typeof value === 'string' ? value : value.id));

const paymentIntent = z.object({
  id: stripeId,
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
const checkoutSession = z.object({
  id: stripeId,
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']),
  payment_intent: idOf,
});
const charge = z.object({
  id: stripeId,
  payment_intent: idOf,
  amount: z.number().int(),
  amount_refunded: z.number().int(),
  refunds: z.object({ data: z.array(z.object({ id: stripeId })) }).nullish(),
});
const dispute = z.object({ id: stripeId, payment_intent: idOf });

interface EventLike {
  id: string;
  type: string;
  data: { object: unknown };
}

function fulfill(
  event: EventLike,
  purchaseKey: string,
  paymentIntentId: string | null,
  options: { awaitCheckoutSession?: boolean; deliverToRun?: boolean } = {},
): StripeRoute {
  return {
    action: 'fulfill',
    workflowId: fulfillmentWorkflowId(purchaseKey),
    input: {
      source: 'stripe',
      purchaseKey,
      paymentIntentId,
      stripeEventId: event.id,
      ...(options.awaitCheckoutSession ? { awaitCheckoutSession: true } : {}),
    },
    ...(options.deliverToRun ? { deliverToRun: true } : {}),
  };
}

function parse<T extends z.ZodType>(schema: T, event: EventLike): z.infer<T> | string {
  const parsed = schema.safeParse(event.data.object);
  return parsed.success
    ? parsed.data
    : `${event.type} payload is missing ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`;
}

/**
 * Decides what a verified Stripe event means for fulfillment. A checkout session and the
 * payment intent of the same purchase route to the same workflow id, so they end in one
 * fulfillment whichever arrives first.
 */
export function routeStripeEvent(event: EventLike): StripeRoute {
  switch (event.type) {
    case 'payment_intent.succeeded': {
      const pi = parse(paymentIntent, event);
      if (typeof pi === 'string') return { action: 'reject', error: pi };
      // Without SKUs the intent is Checkout's: its session's event says what was bought.
      const skus = pi.metadata?.['skus'];
      const awaitCheckoutSession = typeof skus !== 'string' || skus.trim() === '';
      return fulfill(event, pi.id, pi.id, { awaitCheckoutSession });
    }
    case 'payment_intent.payment_failed':
      return { action: 'record', note: 'payment failed; nothing to fulfil' };
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = parse(checkoutSession, event);
      if (typeof session === 'string') return { action: 'reject', error: session };
      if (session.payment_status === 'unpaid') {
        return { action: 'record', note: 'awaiting an asynchronous payment' };
      }
      return fulfill(event, session.payment_intent ?? session.id, session.payment_intent, {
        deliverToRun: session.payment_intent !== null,
      });
    }
    case 'checkout.session.async_payment_failed':
      return { action: 'record', note: 'asynchronous payment failed; nothing to fulfil' };
    case 'charge.refunded': {
      const refunded = parse(charge, event);
      if (typeof refunded === 'string') return { action: 'reject', error: refunded };
      if (!refunded.payment_intent)
        return { action: 'reject', error: 'charge.refunded has no payment_intent' };
      return {
        action: 'refund',
        workflowId: refundWorkflowId(refundIdOf(refunded)),
        input: { stripeEventId: event.id },
        paymentIntentId: refunded.payment_intent,
      };
    }
    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const disputed = parse(dispute, event);
      if (typeof disputed === 'string') return { action: 'reject', error: disputed };
      if (!disputed.payment_intent)
        return { action: 'reject', error: `${event.type} has no payment_intent` };
      return {
        action: 'dispute',
        workflowId: disputeWorkflowId(disputed.id),
        input: { stripeEventId: event.id },
        paymentIntentId: disputed.payment_intent,
      };
    }
    default:
      return { action: 'ignore' };
  }
}
