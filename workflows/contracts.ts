/**
 * The one module that api/, activities/, the worker and workflows/ all import: task queue,
 * workflow ids, status tuples, search attributes, signals, queries and input/result types.
 * It must stay deterministic and dependency-free (it is bundled into the workflow sandbox).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';

/** The task queue every fulfillment worker polls. */
export const FULFILLMENT_TASK_QUEUE = 'fulfillment';

/**
 * Job statuses, in the order a healthy fulfillment moves through them. `pending_retry` is shown
 * while a step keeps failing and retrying; `needs_attention` is a failure retrying cannot fix.
 */
export const FULFILLMENT_STATUSES = [
  'pending_storage',
  'pending_entitlement',
  'pending_email',
  'pending_retry',
  'needs_attention',
  'completed',
  'revoked',
] as const;
export type FulfillmentStatus = (typeof FULFILLMENT_STATUSES)[number];

export const ENTITLEMENT_STATUSES = [
  'processing',
  'pending_claim',
  'active',
  'suspended',
  'revoked',
] as const;
export type EntitlementStatus = (typeof ENTITLEMENT_STATUSES)[number];

export const CUSTOMER_STATUSES = ['pending_claim', 'active'] as const;
export type CustomerStatus = (typeof CUSTOMER_STATUSES)[number];

export const ORDER_SOURCES = ['stripe', 'reward'] as const;
export type OrderSource = (typeof ORDER_SOURCES)[number];

/**
 * Search attributes a platform engineer filters on in the Temporal UI, e.g.
 * `FulfillmentStatus="needs_attention"`. They are registered when the dev server starts
 * (see scripts/lib/temporal-dev-server.ts) and in temporal.docker-compose.yml.
 */
export const searchAttributes = {
  fulfillmentStatus: defineSearchAttributeKey('FulfillmentStatus', SearchAttributeType.KEYWORD),
  customerEmail: defineSearchAttributeKey('CustomerEmail', SearchAttributeType.KEYWORD),
  paymentIntentId: defineSearchAttributeKey('PaymentIntentId', SearchAttributeType.KEYWORD),
  orderSource: defineSearchAttributeKey('OrderSource', SearchAttributeType.KEYWORD),
} as const;

/** Every custom search attribute with its Temporal type, for registration at server start. */
export const SEARCH_ATTRIBUTE_REGISTRATIONS = Object.values(searchAttributes).map((key) => ({
  name: key.name,
  type: 'Keyword' as const,
}));

/** One fulfillment workflow per payment intent: the business key is the workflow id. */
export function fulfillmentWorkflowId(paymentIntentId: string): string {
  return `fulfillment-${paymentIntentId}`;
}

/** What the gateway hands the workflow: only keys, never buyer data (it lives in Postgres). */
export interface FulfillmentInput {
  source: 'stripe';
  paymentIntentId: string;
  /** The `webhook_events.event_id` whose payload describes the purchase. */
  stripeEventId: string;
}

export interface FulfillmentStep {
  status: FulfillmentStatus;
  at: string;
}

export interface FulfillmentState {
  status: FulfillmentStatus;
  jobId: string | null;
  orderId: string | null;
  steps: FulfillmentStep[];
}

export interface FulfillmentResult {
  status: FulfillmentStatus;
  jobId: string;
  orderId: string;
}

/** The job's current state and step history, served by the workflow itself. */
export const fulfillmentStatusQuery = defineQuery<FulfillmentState>('status');

/** Error types an activity raises for failures no retry can fix; they end in `needs_attention`. */
export const PERMANENT_FAILURE_TYPES = ['InvalidPurchase', 'UnknownSku'] as const;
export type PermanentFailureType = (typeof PERMANENT_FAILURE_TYPES)[number];

/** What `recordPurchase` wrote: the keys later steps work on, and who the buyer is. */
export interface RecordedPurchase {
  jobId: string;
  orderId: string;
  customerEmail: string;
  /** True when the buyer has no account yet: entitlements wait for a claim. */
  guest: boolean;
  status: FulfillmentStatus;
}

export interface JobStep {
  jobId: string;
  orderId: string;
}
