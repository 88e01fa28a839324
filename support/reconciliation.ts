import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import { raiseAlert, type AlertSinks } from './alerts.ts';
import type { Db } from '../db/database.ts';
import { recordAudit } from '../db/queries/audit.ts';
import {
  findFirstStripeEventForPurchase,
  insertReconciliationRun,
  listEntitlementStatusesOfOrders,
  listReceiptStatusesOfOrders,
  listStripeOrdersForReconciliation,
} from '../db/queries/reconciliation.ts';
import {
  RECONCILIATION_CLASSES,
  type ReconciliationClass,
  type ReconciliationFinding,
  type ReconciliationRun,
} from '../db/tables/reconciliation-runs.ts';
import { ingestStripeEvent, type StripeEventEnvelope } from '../gateway/ingest.ts';
import { routeStripeEvent } from '../gateway/stripe-routing.ts';
import {
  describeWorkflowStatus,
  queryFulfillmentState,
  restartFulfillment,
} from '../temporal/workflows.ts';
import { fulfillmentWorkflowId } from '../workflows/contracts.ts';

/**
 * The classes healed by re-driving the fulfillment workflow (every step is idempotent, so a
 * re-run only adds what is missing: the entitlement, the receipt). Money questions —
 * entitled-not-paid, refunded-still-active — and bounces (a bad address needs a human) are
 * reported only.
 */
export const HEALABLE_CLASSES: readonly ReconciliationClass[] = [
  'paid-not-entitled',
  'entitled-without-email',
];

/** Entitlement statuses that give access: what a refund or a missing payment must not leave. */
const LIVE_ENTITLEMENTS = ['active', 'pending_claim'] as const;
/** Receipt statuses that count as "the buyer has their email". */
const RECEIPT_OK = ['queued', 'sent', 'delivered'] as const;
const RECEIPT_BOUNCED = ['bounced', 'complained'] as const;
const FULFILLING_EVENT_TYPES = [
  'payment_intent.succeeded',
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
];

export interface ReconciliationWindow {
  start: Date;
  end: Date;
}

/** The UTC day `YYYY-MM-DD`, as a window [00:00, next 00:00). */
export function dayWindow(date: string): ReconciliationWindow {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    throw new Error(`date: expected YYYY-MM-DD, got ${date}`);
  }
  const start = new Date(`${date}T00:00:00Z`);
  return { start, end: new Date(start.getTime() + 86_400_000) };
}

/** The UTC day before `at` (what the daily schedule reconciles). */
export function previousDayWindow(at: Date): ReconciliationWindow {
  return dayWindow(new Date(at.getTime() - 86_400_000).toISOString().slice(0, 10));
}

export interface ReconciliationDeps {
  db: Db;
  stripe: Stripe;
  temporal: Client;
  /** Where the run's summary alert goes (it is always stored and logged). */
  sinks?: AlertSinks;
}

export interface ReconciliationOptions {
  window: ReconciliationWindow;
  /** Re-drive the fulfillment for the healable classes. */
  heal: boolean;
  /** Who ran it: `schedule`, an operator name, an admin token's name. */
  actor: string;
  /** Only these purchases (payment intent ids) of the window: support checking one payment. */
  purchaseKeys?: readonly string[] | undefined;
}

interface Payment {
  paymentIntentId: string;
  created: number;
  amount: number;
  amountRefunded: number;
  refunded: boolean;
}

/**
 * Stripe's succeeded payments created in the window, by payment intent, through the Charges
 * API with auto-pagination. Only `created[gt]` is asked of the API (localstripe implements
 * no other bound); the end of the window is applied here.
 */
async function succeededPayments(
  stripe: Stripe,
  window: ReconciliationWindow,
): Promise<Map<string, Payment>> {
  const startSeconds = Math.floor(window.start.getTime() / 1000);
  const endSeconds = Math.floor(window.end.getTime() / 1000);
  const payments = new Map<string, Payment>();
  for await (const charge of stripe.charges.list({
    created: { gt: startSeconds - 1 },
    limit: 100,
  })) {
    if (charge.created < startSeconds || charge.created >= endSeconds) continue;
    if (charge.status !== 'succeeded' || !charge.paid) continue;
    const paymentIntentId =
      typeof charge.payment_intent === 'string' ? charge.payment_intent : charge.payment_intent?.id;
    if (!paymentIntentId) continue;
    payments.set(paymentIntentId, {
      paymentIntentId,
      created: charge.created,
      amount: charge.amount,
      amountRefunded: charge.amount_refunded,
      refunded: charge.refunded || charge.amount_refunded >= charge.amount,
    });
  }
  return payments;
}

interface OrderFacts {
  id: string;
  purchaseKey: string;
  paymentIntentId: string | null;
  liveEntitlements: number;
  entitlements: number;
  receiptStatus: string | null;
}

async function orderFacts(
  db: Db,
  paymentIntentIds: string[],
  window: ReconciliationWindow,
): Promise<OrderFacts[]> {
  const orders = await listStripeOrdersForReconciliation(db, paymentIntentIds, window);
  if (orders.length === 0) return [];
  const ids = orders.map((order) => order.id);
  const entitlements = await listEntitlementStatusesOfOrders(db, ids);
  const receipts = await listReceiptStatusesOfOrders(db, ids);
  return orders.map((order) => {
    const own = entitlements.filter((e) => e.order_id === order.id);
    return {
      id: order.id,
      purchaseKey: order.purchase_key,
      paymentIntentId: order.payment_intent_id,
      entitlements: own.length,
      liveEntitlements: own.filter((e) =>
        (LIVE_ENTITLEMENTS as readonly string[]).includes(e.status),
      ).length,
      receiptStatus: receipts.find((r) => r.order_id === order.id)?.status ?? null,
    };
  });
}

/** Is the payment intent paid in Stripe (for an order whose charge is outside the window)? */
async function paymentStatus(stripe: Stripe, paymentIntentId: string): Promise<string> {
  try {
    return (await stripe.paymentIntents.retrieve(paymentIntentId)).status;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 'not found in Stripe';
    throw error;
  }
}

/** Classifies every purchase of the window; pure apart from the Stripe look-ups it needs. */
async function classify(
  stripe: Stripe,
  payments: Map<string, Payment>,
  orders: OrderFacts[],
): Promise<Omit<ReconciliationFinding, 'action'>[]> {
  const findings: Omit<ReconciliationFinding, 'action'>[] = [];
  const byPaymentIntent = new Map(
    orders.filter((o) => o.paymentIntentId).map((o) => [o.paymentIntentId!, o]),
  );
  for (const payment of payments.values()) {
    const order = byPaymentIntent.get(payment.paymentIntentId);
    if (payment.refunded) {
      if (order && order.liveEntitlements > 0) {
        findings.push({
          class: 'refunded-still-active',
          purchaseKey: order.purchaseKey,
          orderId: order.id,
          detail: `refunded ${payment.amountRefunded} of ${payment.amount}; ${order.liveEntitlements} entitlement(s) still give access`,
        });
      }
      continue;
    }
    if (!order || order.entitlements === 0) {
      findings.push({
        class: 'paid-not-entitled',
        purchaseKey: order?.purchaseKey ?? payment.paymentIntentId,
        orderId: order?.id ?? null,
        detail: order ? 'order recorded without entitlements' : 'no order recorded',
      });
    }
  }
  for (const order of orders) {
    const payment = order.paymentIntentId ? payments.get(order.paymentIntentId) : undefined;
    if (order.liveEntitlements > 0 && order.paymentIntentId && !payment) {
      const status = await paymentStatus(stripe, order.paymentIntentId);
      if (status !== 'succeeded') {
        findings.push({
          class: 'entitled-not-paid',
          purchaseKey: order.purchaseKey,
          orderId: order.id,
          detail: `payment intent ${order.paymentIntentId}: ${status}`,
        });
        continue;
      }
    }
    if (payment?.refunded || order.liveEntitlements === 0) continue;
    if ((RECEIPT_BOUNCED as readonly (string | null)[]).includes(order.receiptStatus)) {
      findings.push({
        class: 'email-bounced',
        purchaseKey: order.purchaseKey,
        orderId: order.id,
        detail: `receipt ${order.receiptStatus}`,
      });
    } else if (!(RECEIPT_OK as readonly (string | null)[]).includes(order.receiptStatus)) {
      findings.push({
        class: 'entitled-without-email',
        purchaseKey: order.purchaseKey,
        orderId: order.id,
        detail: order.receiptStatus ? `receipt ${order.receiptStatus}` : 'no receipt recorded',
      });
    }
  }
  return findings;
}

/** The recorded event that fulfils a purchase, or — when the inbox never got it — Stripe's. */
async function fulfillingEvent(
  deps: ReconciliationDeps,
  purchaseKey: string,
  actor: string,
  payment: Payment | undefined,
): Promise<{ event: StripeEventEnvelope; ingested: string | null } | null> {
  const recorded = await findFirstStripeEventForPurchase(deps.db, {
    purchaseKey,
    workflowId: fulfillmentWorkflowId(purchaseKey),
    types: FULFILLING_EVENT_TYPES,
  });
  if (recorded) return { event: recorded.payload as StripeEventEnvelope, ingested: null };
  if (!payment) return null;
  // Stripe keeps events 30 days; the payment's own success event is created with the charge.
  for await (const event of deps.stripe.events.list({
    type: 'payment_intent.succeeded',
    created: { gte: payment.created - 3600 },
    limit: 100,
  })) {
    if ((event.data.object as { id?: string }).id !== purchaseKey) continue;
    const envelope = event as unknown as StripeEventEnvelope;
    // Recorded in the inbox like any delivery (audited, and dispatched: nothing ran before).
    const outcome = await ingestStripeEvent(deps, envelope, JSON.stringify(event), { actor });
    return { event: envelope, ingested: outcome.error ? null : outcome.workflowId };
  }
  return null;
}

/**
 * Re-drives `fulfillment-<purchase key>`. A run still fulfilling is left alone (the stuck scan
 * watches it); a run open only for its reminders is replaced (the new run re-creates what is
 * missing and starts its reminders again; reminder emails are idempotent per order); a closed
 * run — even a completed one — is started again, which the default dispatch policy
 * (ALLOW_DUPLICATE_FAILED_ONLY) would refuse.
 */
async function redrive(
  deps: ReconciliationDeps,
  purchaseKey: string,
  actor: string,
  payment: Payment | undefined,
): Promise<string> {
  const found = await fulfillingEvent(deps, purchaseKey, actor, payment);
  if (!found) return 'not healed: no fulfilling Stripe event found';
  const { event } = found;
  if (found.ingested) {
    await recordAudit(deps.db, {
      actor,
      action: 'reconciliation.redriven',
      target: found.ingested,
      detail: { eventId: event.id, recordedFromStripe: true },
    });
    return `healed: recorded ${event.id} from Stripe and started ${found.ingested}`;
  }
  const route = routeStripeEvent(event);
  if (route.action !== 'fulfill') return `not healed: event ${event.id} routes to ${route.action}`;
  let replaceOpenRun = false;
  if ((await describeWorkflowStatus(deps.temporal, route.workflowId)) === 'RUNNING') {
    const state = await queryFulfillmentState(deps.temporal, route.workflowId);
    if (state.phase === 'fulfilling') return `in flight: ${route.workflowId} is ${state.status}`;
    replaceOpenRun = true;
  }
  const runId = await restartFulfillment(deps.temporal, route.input, { replaceOpenRun });
  await recordAudit(deps.db, {
    actor,
    action: 'reconciliation.redriven',
    target: route.workflowId,
    detail: { eventId: event.id, runId: runId },
  });
  return `healed: re-drove ${route.workflowId}`;
}

/**
 * Compares Stripe's succeeded payments of the window with orders, entitlements and receipts,
 * classifies every mismatch, heals the safe classes when `heal` is on, stores the run in
 * `reconciliation_runs` and summarises it in one alert. Returns the stored run.
 */
export async function runReconciliation(
  deps: ReconciliationDeps,
  { window, heal, actor, purchaseKeys }: ReconciliationOptions,
): Promise<ReconciliationRun> {
  if (!(window.start < window.end)) throw new Error('window: start must be before end');
  const startedAt = new Date();
  const only = purchaseKeys && purchaseKeys.length > 0 ? new Set(purchaseKeys) : null;
  const payments = await succeededPayments(deps.stripe, window);
  if (only) for (const key of payments.keys()) if (!only.has(key)) payments.delete(key);
  const orders = (await orderFacts(deps.db, [...payments.keys()], window)).filter(
    (order) => !only || only.has(order.purchaseKey),
  );
  const classified = await classify(deps.stripe, payments, orders);
  const findings: ReconciliationFinding[] = [];
  for (const finding of classified) {
    const healable = HEALABLE_CLASSES.includes(finding.class);
    const action =
      heal && healable
        ? await redrive(deps, finding.purchaseKey, actor, payments.get(finding.purchaseKey))
        : 'reported';
    findings.push({ ...finding, action });
  }
  const counts = Object.fromEntries(
    RECONCILIATION_CLASSES.map((name) => [name, findings.filter((f) => f.class === name).length]),
  ) as Record<ReconciliationClass, number>;
  const healed = findings.filter((f) => f.action.startsWith('healed')).length;
  const run = await insertReconciliationRun(deps.db, {
    window_start: window.start,
    window_end: window.end,
    actor,
    heal,
    payments_checked: payments.size,
    orders_checked: orders.length,
    counts: JSON.stringify(counts),
    findings: JSON.stringify(findings),
    healed,
    started_at: startedAt,
  });
  const summary = RECONCILIATION_CLASSES.filter((name) => counts[name] > 0)
    .map((name) => `${counts[name]} ${name}`)
    .join(', ');
  await raiseAlert(deps.db, deps.sinks ?? {}, {
    key: `reconciliation:${run.id}`,
    kind: 'reconciliation.run',
    severity: findings.length - healed > 0 ? 'critical' : 'warning',
    summary: `reconciliation ${window.start.toISOString().slice(0, 10)}: ${payments.size} payments, ${
      findings.length === 0 ? 'no findings' : summary
    }${heal ? `, ${healed} healed` : ''}`,
    detail: { runId: run.id, counts, healed, actor },
    // One issue in the tracker per run that found discrepancies (ALERT_GITHUB_REPOSITORY).
    ticket: findings.length > 0,
  });
  return run;
}
