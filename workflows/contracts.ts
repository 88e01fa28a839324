/**
 * The one module that api/, activities/, the worker and workflows/ all import: task queue,
 * workflow ids, status tuples, search attributes, signals, queries and input/result types.
 * It must stay deterministic and dependency-free (it is bundled into the workflow sandbox).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

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
 * (see stack/temporal-dev-server.ts) and in temporal.docker-compose.yml.
 */
export const searchAttributes = {
  fulfillmentStatus: defineSearchAttributeKey('FulfillmentStatus', SearchAttributeType.KEYWORD),
  /** A keyed hash of the buyer's email (`hmac1_…`), never the address itself. */
  customerEmail: defineSearchAttributeKey('CustomerEmail', SearchAttributeType.KEYWORD),
  paymentIntentId: defineSearchAttributeKey('PaymentIntentId', SearchAttributeType.KEYWORD),
  orderSource: defineSearchAttributeKey('OrderSource', SearchAttributeType.KEYWORD),
} as const;

/** Every custom search attribute with its Temporal type, for registration at server start. */
export const SEARCH_ATTRIBUTE_REGISTRATIONS = Object.values(searchAttributes).map((key) => ({
  name: key.name,
  type: 'Keyword' as const,
}));

/**
 * The workflow types the worker registers (workflows/index.ts exports each under this name;
 * a test holds the two together). temporal/workflows.ts starts them by these names only.
 */
export const WORKFLOW_TYPES = {
  fulfillment: 'fulfillmentWorkflow',
  refund: 'refundWorkflow',
  dispute: 'disputeWorkflow',
  rewardRevocation: 'rewardRevocationWorkflow',
  operatorRevocation: 'operatorRevocationWorkflow',
  resendLinks: 'resendLinksWorkflow',
  claimLink: 'claimLinkWorkflow',
  /** Registered only so runs of the removed `ops-stuck-scan` schedule can finish. */
  opsStuckScan: 'opsStuckScanWorkflow',
  reconciliation: 'reconciliationWorkflow',
} as const;

const FULFILLMENT_ID_PREFIX = 'fulfillment-';

/**
 * One fulfillment workflow per purchase: `fulfillment-<payment_intent_id>`, or the checkout
 * session id for a purchase without a payment intent (100 %-off coupons).
 */
export function fulfillmentWorkflowId(purchaseKey: string): string {
  return `${FULFILLMENT_ID_PREFIX}${purchaseKey}`;
}

/** The purchase key inside a fulfillment workflow id, or null for any other string. */
export function purchaseKeyOfWorkflowId(workflowId: string): string | null {
  return workflowId.startsWith(FULFILLMENT_ID_PREFIX)
    ? workflowId.slice(FULFILLMENT_ID_PREFIX.length)
    : null;
}

/** Refunds arrive days or months later, after the fulfillment closed: their own workflow. */
export function refundWorkflowId(refundId: string): string {
  return `refund-${refundId}`;
}

/** One workflow per dispute; its created and closed events are signalled into it. */
export function disputeWorkflowId(disputeId: string): string {
  return `dispute-${disputeId}`;
}

/** What the gateway hands the workflow: only keys, never buyer data (it lives in Postgres). */
export type FulfillmentInput =
  | {
      source: 'stripe';
      /** The payment intent id, or the checkout session id when there is no payment intent. */
      purchaseKey: string;
      paymentIntentId: string | null;
      /** The `webhook_events.event_id` whose payload describes the purchase. */
      stripeEventId: string;
      /**
       * The event is a payment intent without `metadata.skus` (Checkout created it): the run
       * waits, bounded, for its Checkout Session's event (`checkoutSessionSignal`) and reads
       * the purchase from that; only when none comes does it look the session up in Stripe.
       * Absent from runs started before.
       */
      awaitCheckoutSession?: boolean;
    }
  | {
      source: 'reward';
      /** `reward-<reward_id>`: the workflow id is `fulfillment-reward-<reward_id>`. */
      purchaseKey: string;
      paymentIntentId: null;
      /** The `rewards.reward_id` recorded by POST /v1/rewards. */
      rewardId: string;
    };

/** The purchase key of a reward (orders.purchase_key, and its workflow id's suffix). */
export function rewardPurchaseKey(rewardId: string): string {
  return `reward-${rewardId}`;
}

/** A reward taken back: revoked like a full refund, with the mission audit entry. */
export function rewardRevocationWorkflowId(rewardId: string): string {
  return `revoke-reward-${rewardId}`;
}

/**
 * An operator's revocation of an order: the database change is made by the operator's command;
 * this run sends the order's one cancellation email (the ledger keeps it to one).
 */
export function operatorRevocationWorkflowId(orderId: string): string {
  return `revoke-order-${orderId}`;
}

/**
 * An operator's revocation of one product of an order (its other products stay): the same
 * workflow type as `revoke-order-<id>`, under the revocation's own id and cancellation number.
 */
export function productRevocationWorkflowId(orderId: string, sequence: number): string {
  return `revoke-product-${orderId}-${sequence}`;
}

export interface OperatorRevocationInput {
  orderId: string;
  /**
   * A per-product revocation's cancellation number within the order (2, 3, …): its email lists
   * the products taken back. Absent for a whole order (its one cancellation, number 1).
   */
  sequence?: number;
}

export interface RewardRevocationInput {
  rewardId: string;
  reason: string;
  /** Who took it back (the service token's name, or an operator). */
  actor: string;
}

/** A refund or dispute event to apply, by its `webhook_events.event_id`. */
export interface PaymentAdjustmentInput {
  stripeEventId: string;
}

/** What applying a refund or dispute changed. */
export interface AppliedAdjustment {
  purchaseKey: string;
  /** Null when the purchase is not recorded yet: its fulfillment will apply the fact itself. */
  orderId: string | null;
  entitlementStatus: EntitlementStatus | null;
  /** The entitlements became revoked by this event: one cancellation email is owed. */
  revoked: boolean;
  /**
   * Set when this event moved the purchase's job (revoked, or restored to completed): the
   * purchase's search attributes as the Temporal UI should show them now. The adjustment
   * workflow carries them, so `FulfillmentStatus="revoked"` finds the purchase even when its
   * fulfillment run has closed. Absent from runs recorded before.
   */
  statusChange?: PurchaseStatusAttributes | null;
}

/** A purchase's search attributes, for a workflow that changed its status. */
export interface PurchaseStatusAttributes {
  status: FulfillmentStatus;
  orderSource: OrderSource;
  paymentIntentId: string | null;
  /** The keyed hash of the buyer's email (as the fulfillment's `CustomerEmail`). */
  customerEmailSearchValue: string;
}

export interface FulfillmentStep {
  status: FulfillmentStatus;
  at: string;
}

/**
 * Where a run is: doing the fulfillment steps, waiting on reminder timers (the job is done),
 * or finished.
 */
export type FulfillmentPhase = 'fulfilling' | 'reminding' | 'done';

export interface FulfillmentState {
  status: FulfillmentStatus;
  phase: FulfillmentPhase;
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
/** The provider refused the message itself (a bad address): retrying sends nothing. */
export const EMAIL_REJECTED = 'EmailRejected';

/**
 * A Stripe lookup a purchase needs (its Checkout Session, line items, customer, charge) that
 * Stripe refused (404, invalid request, bad key), or that kept failing past its window.
 */
export const STRIPE_LOOKUP_FAILED = 'StripeLookupFailed';

export const PERMANENT_FAILURE_TYPES = [
  'InvalidPurchase',
  'UnknownSku',
  EMAIL_REJECTED,
  STRIPE_LOOKUP_FAILED,
] as const;
export type PermanentFailureType = (typeof PERMANENT_FAILURE_TYPES)[number];

/**
 * A purchased file is not in storage yet. Retried (it may still be uploading) until the
 * storage step's retry window closes; then the job needs attention.
 */
export const ASSET_MISSING = 'AssetMissing';

/**
 * A delivered receipt whose delivery could not be recorded (the database failed after the
 * provider accepted it): retried like any step, but not an email failure.
 */
export const DELIVERY_NOT_RECORDED = 'DeliveryNotRecorded';

/** What `recordPurchase` wrote: the keys later steps work on, and who the buyer is. */
export interface RecordedPurchase {
  jobId: string;
  orderId: string;
  /** The purchase's key (the lock later steps take). Absent from runs before the lean shape. */
  purchaseKey: string;
  /** Storage paths of every purchased file, for the storage check. Absent before the lean shape. */
  assets: string[];
  /**
   * The `CustomerEmail` search attribute's value: a keyed hash of the buyer's email (search
   * attributes are indexed in clear; `npm run ops -- temporal-query --email` computes it).
   */
  customerEmailSearchValue?: string;
  /**
   * The buyer's email in clear, as runs recorded before the hash returned it. Read only so
   * those runs replay identically; never returned any more.
   * @deprecated
   */
  customerEmail?: string;
  /** True when the buyer has no account yet: entitlements wait for a claim. */
  guest: boolean;
  status: FulfillmentStatus;
  /** SKUs or price ids the catalog does not know: the job needs attention, nothing is delivered. */
  unknownItems: string[];
}

/** What activating the entitlements found: the derived status decides which email is owed. */
export interface ActivatedEntitlements {
  status: FulfillmentStatus;
  entitlementStatus: EntitlementStatus;
}

export interface JobStep {
  jobId: string;
  orderId: string;
}

/** The storage check and activation step: the job, its purchase and the files to look for. */
export interface StoredJobStep extends JobStep {
  purchaseKey: string;
  assets: string[];
}

/** Why a fulfillment stopped for a human, for the job row and the alert. */
export interface NeedsAttention {
  workflowId: string;
  jobId: string | null;
  type: string;
  message: string;
}

export const ORDER_EMAIL_KINDS = [
  'delivery',
  'cancellation',
  'download_reminder',
  'claim_reminder_24h',
  'claim_reminder_7d',
  'resend',
  'claim_link',
] as const;
export type OrderEmailKind = (typeof ORDER_EMAIL_KINDS)[number];

/**
 * Stripe's refund id for a `charge.refunded` event: the newest refund in the charge's list, or
 * — for API versions that omit the list — the charge and its cumulative refunded amount.
 */
export function refundIdOf(charge: {
  id: string;
  amount_refunded: number;
  refunds?: { data: { id: string }[] } | null;
}): string {
  return charge.refunds?.data[0]?.id ?? `${charge.id}-${charge.amount_refunded}`;
}

/** Reminder milestones after delivery: 24 h (download and claim), 7 d (claim). */
export type ReminderMilestone = '24h' | '7d';

/** The buyer claimed their account: pending reminders are cancelled and the run ends. */
export const claimedSignal = defineSignal('claimed');

/** A refund, lost dispute or manual revocation took the purchase back: stop every reminder. */
export const revokedSignal = defineSignal('revoked');

/** A Checkout Session event that describes a purchase, by its `webhook_events.event_id`. */
export interface CheckoutSessionEvent {
  stripeEventId: string;
}

/**
 * The `checkout.session.completed` / `async_payment_succeeded` of a purchase, delivered into its
 * `fulfillment-<payment intent>` run by signal-with-start: whichever of the session and the
 * payment intent arrived first, the run reads the session that carries the SKUs and email.
 */
export const checkoutSessionSignal = defineSignal<[CheckoutSessionEvent]>('checkoutSession');

/** A further dispute event for a running `dispute-<id>` workflow. */
export const disputeEventSignal = defineSignal<[PaymentAdjustmentInput]>('disputeEvent');

/** A buyer asked for their links again: the n-th resend of an order, one workflow each. */
export function resendWorkflowId(orderId: string, sequence: number): string {
  return `resend-${orderId}-${sequence}`;
}

export interface ResendInput {
  orderId: string;
  sequence: number;
}

/** Support sent a guest a fresh claim link: the n-th reissue for an order, one workflow each. */
export function claimLinkWorkflowId(orderId: string, sequence: number): string {
  return `claim-link-${orderId}-${sequence}`;
}

export type ClaimLinkInput = ResendInput;

/** Input of `opsStuckScanWorkflow` (the removed `ops-stuck-scan` schedule's workflow). */
export interface OperationsScanWorkflowInput {
  thresholdMinutes?: number;
  failureThreshold?: number;
  /** Scan as of this time (ISO) instead of the workflow's clock: tests drive time with it. */
  asOf?: string;
}

/** Input of the `ops-reconcile-daily` schedule's workflow. */
export interface ReconciliationWorkflowInput {
  heal?: boolean;
  /** The UTC day to reconcile (YYYY-MM-DD); default the day before the scheduled time. */
  date?: string;
  actor?: string;
}
