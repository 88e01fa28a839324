import type { DbExecutor } from '../db/database.ts';
import { recordAudit } from '../db/queries/audit.ts';
import {
  findCustomerStatus,
  findOrderIdByPaymentKey,
  findOrderIdByRecordId,
  findPurchaseByOrderId,
  listAuditEntriesForTargets,
  listClaimTokensOfCustomer,
  listDownloadEventsOfEntitlements,
  listEmailDeliveriesOfOrder,
  listJobEvents,
  listJobsForSearch,
  listPaymentAdjustmentsOfPurchase,
  listStripePayloadsForWorkflow,
  listWebhookEventsForPurchase,
} from '../db/queries/jobs.ts';
import type { FulfillmentJob } from '../db/tables/fulfillment-jobs.ts';
import type { Order } from '../db/tables/orders.ts';
import type { StripeEventEnvelope } from '../gateway/ingest.ts';
import { routeStripeEvent } from '../gateway/stripe-routing.ts';
import {
  describeWorkflowStatus,
  queryFulfillmentState,
  startFulfillment,
  terminateWorkflow,
} from '../temporal/workflows.ts';
import {
  FULFILLMENT_STATUSES,
  fulfillmentWorkflowId,
  purchaseKeyOfWorkflowId,
  type FulfillmentInput,
  type FulfillmentStatus,
} from '../workflows/contracts.ts';
import {
  OperationError,
  requireReason,
  temporalWorkflowUrl,
  UUID,
  type Authorship,
  type OperationsDeps,
} from './context.ts';

export interface JobSearch {
  email?: string | undefined;
  /** An order id or purchase key. */
  order?: string | undefined;
  paymentIntent?: string | undefined;
  status?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface JobSummary {
  jobId: string;
  workflowId: string;
  status: FulfillmentStatus;
  orderId: string;
  purchaseKey: string;
  paymentIntentId: string | null;
  source: string;
  email: string;
  amountTotal: number | null;
  currency: string | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A page of jobs, newest first, matching every given filter. */
export async function searchJobs(
  db: DbExecutor,
  search: JobSearch,
): Promise<{ items: JobSummary[]; hasMore: boolean; limit: number; offset: number }> {
  const limit = search.limit ?? 50;
  const offset = search.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    throw new OperationError('invalid', 'limit: a whole number from 1 to 500');
  if (!Number.isInteger(offset) || offset < 0)
    throw new OperationError('invalid', 'offset: a whole number of 0 or more');
  if (search.status && !(FULFILLMENT_STATUSES as readonly string[]).includes(search.status)) {
    throw new OperationError('invalid', `status: one of ${FULFILLMENT_STATUSES.join(', ')}`);
  }
  const order = search.order;
  // One more than a page: whether there is another page.
  const rows = await listJobsForSearch(db, {
    email: search.email ? search.email.trim().toLowerCase() : undefined,
    paymentIntentId: search.paymentIntent || undefined,
    status: search.status ? (search.status as FulfillmentStatus) : undefined,
    order: order ? { purchaseKey: order, orderId: UUID.test(order) ? order : null } : undefined,
    limit: limit + 1,
    offset,
  });
  return { items: rows.slice(0, limit), hasMore: rows.length > limit, limit, offset };
}

export interface ResolvedPurchase {
  order: Order;
  job: FulfillmentJob | null;
  email: string;
  entitlements: { id: string; sku: string; title: string; status: string }[];
}

/**
 * The purchase a support reference names: a job, order or entitlement id, a payment intent,
 * checkout session or purchase key, or a workflow id.
 */
export async function resolvePurchase(
  db: DbExecutor,
  reference: string,
): Promise<ResolvedPurchase> {
  const ref = reference.trim();
  let orderId: string | undefined;
  if (UUID.test(ref)) {
    orderId = await findOrderIdByRecordId(db, ref);
  } else {
    const key = purchaseKeyOfWorkflowId(ref) ?? ref;
    orderId = await findOrderIdByPaymentKey(db, key);
  }
  if (!orderId)
    throw new OperationError('not_found', `no order, job or entitlement matches ${ref}`);
  return findPurchaseByOrderId(db, orderId);
}

export interface TimelineEntry {
  at: Date;
  /** Which record it comes from. */
  source: 'webhook' | 'job' | 'email' | 'download' | 'entitlement' | 'claim' | 'audit';
  event: string;
  detail: Record<string, unknown>;
}

export interface JobTimeline {
  orderId: string;
  purchaseKey: string;
  paymentIntentId: string | null;
  email: string;
  /** `pending_claim` until the buyer links the purchase to an account. */
  customerStatus: string;
  jobId: string | null;
  workflowId: string;
  status: FulfillmentStatus | null;
  lastError: string | null;
  entitlements: ResolvedPurchase['entitlements'];
  temporalUrl: string;
  timeline: TimelineEntry[];
}

const parsed = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' ? (value as Record<string, unknown>) : {};

/**
 * One purchase as support sees it: webhook events, job status changes, emails, downloads,
 * entitlement facts (refunds, disputes, revocations) and operator actions, in time order,
 * plus the workflow's page in the Temporal UI.
 */
export async function showJob(deps: OperationsDeps, reference: string): Promise<JobTimeline> {
  const { db } = deps;
  const { order, job, email, entitlements } = await resolvePurchase(db, reference);
  const workflowId = job?.workflow_id ?? fulfillmentWorkflowId(order.purchase_key);
  const entitlementIds = entitlements.map((e) => e.id);
  const key = order.purchase_key;

  const webhooks = await listWebhookEventsForPurchase(db, workflowId, key);
  const jobEvents = job ? await listJobEvents(db, job.id) : [];
  const emails = await listEmailDeliveriesOfOrder(db, order.id);
  const downloads = entitlementIds.length
    ? await listDownloadEventsOfEntitlements(db, entitlementIds)
    : [];
  const adjustments = await listPaymentAdjustmentsOfPurchase(db, key);
  const claims = await listClaimTokensOfCustomer(db, order.customer_id);
  const customerStatus = await findCustomerStatus(db, order.customer_id);
  const targets = [order.id, key, workflowId, ...entitlementIds, ...(job ? [job.id] : [])];
  const eventIds = webhooks.map((w) => w.event_id);
  const audits = await listAuditEntriesForTargets(db, [...targets, ...eventIds]);

  const timeline: TimelineEntry[] = [
    ...webhooks.map((w) => ({
      at: w.received_at,
      source: 'webhook' as const,
      event: w.type,
      detail: { eventId: w.event_id, result: w.result ?? 'pending', error: w.error },
    })),
    ...jobEvents.map((e) => ({
      at: e.created_at,
      source: 'job' as const,
      event: e.status,
      detail: parsed(e.detail),
    })),
    ...emails.map((e) => ({
      at: e.sent_at ?? e.created_at,
      source: 'email' as const,
      event: `${e.kind} ${e.status}`,
      detail: {
        recipient: e.recipient,
        driver: e.driver,
        attempts: e.attempts,
        error: e.last_error,
      },
    })),
    ...downloads.map((d) => ({
      at: d.created_at,
      source: 'download' as const,
      event: `${d.format} ${d.outcome}`,
      detail: { entitlementId: d.entitlement_id, via: d.source, ip: d.ip },
    })),
    ...adjustments.map((a) => ({
      at: a.updated_at,
      source: 'entitlement' as const,
      event: `${a.kind} ${a.status}`,
      detail: { externalId: a.external_id, amount: a.amount, full: a.full, reason: a.reason },
    })),
    ...claims.flatMap((c) => [
      {
        at: c.created_at,
        source: 'claim' as const,
        event: 'claim link issued',
        detail: { expiresAt: c.expires_at },
      },
      ...(c.used_at
        ? [{ at: c.used_at, source: 'claim' as const, event: 'claim link used', detail: {} }]
        : []),
    ]),
    ...audits.map((a) => ({
      at: a.created_at,
      source: 'audit' as const,
      event: a.action,
      detail: { actor: a.actor, reason: a.reason, target: a.target, ...parsed(a.detail) },
    })),
  ].sort((a, b) => a.at.getTime() - b.at.getTime());

  return {
    orderId: order.id,
    purchaseKey: key,
    paymentIntentId: order.payment_intent_id,
    email,
    customerStatus,
    jobId: job?.id ?? null,
    workflowId,
    status: job?.status ?? null,
    lastError: job?.last_error ?? null,
    entitlements,
    temporalUrl: temporalWorkflowUrl(deps.temporalUi, workflowId),
    timeline,
  };
}

/** What `retryJob` found and did. */
export interface RetryOutcome {
  workflowId: string;
  jobStatus: FulfillmentStatus | null;
  /** The run's state in Temporal before the retry (`NONE` when Temporal has no run). */
  workflowStatusBefore: string;
  action: 'started' | 'restarted' | 'none';
  message: string;
}

/** The input the gateway (or the rewards route) started this purchase's workflow with. */
async function fulfillmentInputOf(db: DbExecutor, order: Order): Promise<FulfillmentInput> {
  if (order.source === 'reward') {
    return {
      source: 'reward',
      purchaseKey: order.purchase_key,
      paymentIntentId: null,
      rewardId: order.purchase_key.slice('reward-'.length),
    };
  }
  const workflowId = fulfillmentWorkflowId(order.purchase_key);
  for (const payload of await listStripePayloadsForWorkflow(db, workflowId)) {
    const route = routeStripeEvent(payload as StripeEventEnvelope);
    if (route.action === 'fulfill' && route.workflowId === workflowId) return route.input;
  }
  throw new OperationError(
    'conflict',
    `no recorded Stripe event starts ${workflowId}; replay it with \`events replay <evt_id>\``,
  );
}

/**
 * Re-drives a job through its idempotent workflow. A failed, terminated or timed-out run (a
 * `needs_attention` job) is started again under the same id; a run Temporal no longer knows is
 * started afresh. A running one retries failing steps by itself: it is left alone unless
 * `restart` is set, which terminates it and starts a new run (each step is idempotent, so
 * nothing is done twice). A completed run is never repeated.
 */
export async function retryJob(
  deps: OperationsDeps,
  reference: string,
  who: Authorship & { restart?: boolean },
): Promise<RetryOutcome> {
  requireReason(who);
  const { order, job } = await resolvePurchase(deps.db, reference);
  const workflowId = job?.workflow_id ?? fulfillmentWorkflowId(order.purchase_key);
  const input = await fulfillmentInputOf(deps.db, order);
  const before = await describeWorkflowStatus(deps.temporal, workflowId);
  let action: RetryOutcome['action'] = 'none';
  let message: string;
  if (before === 'COMPLETED') {
    message = 'none: the workflow completed; a completed fulfillment is never repeated';
  } else if (before === 'RUNNING' && !who.restart) {
    const state = await queryFulfillmentState(deps.temporal, workflowId).catch(() => null);
    message = `none: the workflow is running (${state ? `${state.status}, ${state.phase}` : 'status unknown'}) and retries failing steps itself; add restart to terminate it and start a fresh run`;
  } else if (before === 'RUNNING') {
    action = 'restarted';
    message = 'terminated the running workflow and started a new run';
  } else {
    action = 'started';
    message =
      before === 'NONE'
        ? 'started the workflow (Temporal had no run of it)'
        : `started a new run (the last one is ${before.toLowerCase()})`;
  }
  // Audited before acting: a terminate or start that fails half-way is still on record.
  await recordAudit(deps.db, {
    actor: who.operator.name,
    action: 'job.retried',
    target: job?.id ?? order.id,
    reason: who.reason,
    detail: { workflowId, workflowStatusBefore: before, action, role: who.operator.role },
  });
  if (action === 'restarted') {
    await terminateWorkflow(
      deps.temporal,
      workflowId,
      `restarted by ${who.operator.name}: ${who.reason}`,
    );
  }
  if (action !== 'none') {
    await startFulfillment(deps.temporal, input);
  }
  return {
    workflowId,
    jobStatus: job?.status ?? null,
    workflowStatusBefore: before,
    action,
    message,
  };
}
