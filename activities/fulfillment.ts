import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import {
  activateOrderEntitlements,
  completeOrderDelivery,
  findOrderPurchaseKey,
  listOrderProducts,
  transitionJob,
} from '../db/queries/fulfillment.ts';
import { productStoragePath } from '../db/queries/products.ts';
import { recordPurchaseRows } from '../db/queries/purchases.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import {
  ASSET_MISSING,
  DELIVERY_NOT_RECORDED,
  STRIPE_LOOKUP_FAILED,
  type ActivatedEntitlements,
  type FulfillmentInput,
  type FulfillmentStatus,
  type JobStep,
  type NeedsAttention,
  type PermanentFailureType,
  type RecordedPurchase,
  type StoredJobStep,
} from '../workflows/contracts.ts';
import { raiseAlert, type AlertSinks } from '../support/alerts.ts';
import type { EmailDriver } from '../drivers/email/driver.ts';
import {
  attemptOrderEmail,
  observeReceiptLatency,
  type DownloadLinkSigning,
} from './order-email.ts';
import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../security/search-attribute-hash.ts';
import type { StorageDriver } from '../drivers/storage/driver.ts';
import { fulfillmentJobsFailed } from '../observability/metrics.ts';
import {
  analyticsEventRows,
  tableAnalyticsSink,
  type AnalyticsSink,
} from '../drivers/analytics/index.ts';
import { fulfilledOrderAnalytics, recordFulfillmentAnalytics } from './analytics.ts';
import {
  InvalidPurchaseError,
  readPurchase,
  StripeLookupRefusedError,
  StripeUnavailableError,
  readRewardPurchase,
  type Purchase,
} from './purchase.ts';

export interface FulfillmentDeps {
  db: Db;
  stripe: Stripe;
  storage: StorageDriver;
  email: EmailDriver;
  emailFrom: string;
  alerts: AlertSinks;
  links?: DownloadLinkSigning | undefined;
  /** Keys the `CustomerEmail` search attribute's hash (SEARCH_ATTRIBUTE_HASH_KEY). */
  searchAttributeHashKey?: string | undefined;
  /** Where analytics events go (ANALYTICS_SINK); the analytics_events table by default. */
  analytics?: AnalyticsSink | undefined;
  /** How long a failing Stripe lookup is retried (STRIPE_LOOKUP_WINDOW_SECONDS); 900 s default. */
  stripeLookupWindowSeconds?: number | undefined;
}

/** When this activity was first scheduled (its retries keep that time); now outside one. */
function firstScheduledAt(): number {
  try {
    return Context.current().info.scheduledTimestampMs;
  } catch {
    return Date.now();
  }
}

/**
 * A Stripe lookup's failure as the workflow should see it: refused → needs attention now;
 * failing → retried until the lookup window since the step's first attempt has passed, then
 * needs attention with the last reason. So no purchase retries a lookup forever.
 */
function stripeLookupFailure(error: unknown, windowSeconds: number): unknown {
  if (error instanceof StripeLookupRefusedError)
    return ApplicationFailure.nonRetryable(error.message, STRIPE_LOOKUP_FAILED);
  if (error instanceof StripeUnavailableError) {
    const elapsedSeconds = (Date.now() - firstScheduledAt()) / 1000;
    if (elapsedSeconds >= windowSeconds)
      return ApplicationFailure.nonRetryable(
        `${error.message} (still failing after ${Math.round(elapsedSeconds)} s of retries)`,
        STRIPE_LOOKUP_FAILED,
      );
    return ApplicationFailure.retryable(error.message, 'StripeUnavailable');
  }
  return error;
}

export function permanentFailure(type: PermanentFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** The recorded payload of a Stripe event; a missing one is a permanent failure. */
export async function loadStripeEventObject(db: Db, stripeEventId: string): Promise<unknown> {
  const event = await findWebhookEvent(db, 'stripe', stripeEventId);
  if (!event)
    throw permanentFailure('InvalidPurchase', `webhook event ${stripeEventId} is not recorded`);
  return (event.payload as { data?: { object?: unknown } }).data?.object;
}

/** Throws (retryable, AssetMissing) unless every file exists in storage. */
async function requireStoredFiles(storage: StorageDriver, keys: readonly string[]): Promise<void> {
  const present = await Promise.all(keys.map((key) => storage.exists(key)));
  const missing = keys.filter((_, index) => !present[index]);
  if (missing.length > 0) {
    throw ApplicationFailure.retryable(
      `missing in ${storage.name} storage: ${missing.join(', ')}`,
      ASSET_MISSING,
    );
  }
}

/** The side effects of a fulfillment; each is idempotent on its own key so retries are safe. */
export function createFulfillmentActivities(deps: FulfillmentDeps) {
  const {
    db,
    stripe,
    storage,
    alerts,
    searchAttributeHashKey = DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
    analytics = tableAnalyticsSink,
    stripeLookupWindowSeconds = 900,
  } = deps;
  return {
    /**
     * Records customer, order, entitlements (`processing`), the job and its first event in one
     * transaction. Running it again for the same purchase returns what is there. A refund or
     * dispute recorded before this success event applies at once. Returns the storage paths
     * the next step checks, so it need not read them again.
     */
    async recordPurchase(input: FulfillmentInput): Promise<RecordedPurchase> {
      let purchase: Purchase;
      try {
        purchase =
          input.source === 'reward'
            ? await readRewardPurchase(db, input.rewardId)
            : await readPurchase(stripe, await loadStripeEventObject(db, input.stripeEventId));
      } catch (error) {
        if (error instanceof InvalidPurchaseError)
          throw permanentFailure('InvalidPurchase', error.message);
        throw stripeLookupFailure(error, stripeLookupWindowSeconds);
      }
      const origin =
        input.source === 'reward'
          ? { rewardId: input.rewardId }
          : { stripeEventId: input.stripeEventId };
      // Nothing is delivered while part of the purchase is unknown: support fixes the
      // catalog and replays the event, and this step then records every item.
      const recorded = await recordPurchaseRows(db, {
        purchase,
        source: input.source,
        origin,
        items: purchase.items,
      });
      return {
        jobId: recorded.jobId,
        orderId: recorded.orderId,
        purchaseKey: purchase.purchaseKey,
        customerEmailSearchValue: customerEmailSearchValue(purchase.email, searchAttributeHashKey),
        guest: recorded.guest,
        status: recorded.status,
        unknownItems: recorded.unknown,
        assets: recorded.products.flatMap((product) =>
          product.formats.map((format) => productStoragePath(product, format)),
        ),
      };
    },

    /**
     * Checks that every purchased file exists at its versioned path, then makes the order's
     * entitlements usable — `pending_claim` for guests, `active` for known accounts, unless a
     * refund or dispute says otherwise (`revoked` or `suspended`) — and moves the job to
     * `pending_email` (or `revoked`), in one transaction. A missing file is retried (it may
     * still be uploading); the workflow gives up after its retry window.
     */
    async activateStoredEntitlements({
      jobId,
      orderId,
      purchaseKey,
      assets,
    }: StoredJobStep): Promise<ActivatedEntitlements> {
      await requireStoredFiles(storage, assets);
      return activateOrderEntitlements(
        db,
        { jobId, orderId, purchaseKey },
        { files: assets.length },
      );
    },

    /**
     * Delivers the order: the receipt (download links, a claim link for guests) through the
     * email ledger, then — in one statement — the receipt marked sent, the analytics events
     * (queued in the outbox for ANALYTICS_SINK's exporter, if any) and the job `completed`.
     * Retried as a whole: the ledger never sends a key twice, and the completion is idempotent.
     * A failure after the email went out is `DeliveryNotRecorded`, so it does not count as a
     * failing email.
     */
    async deliverOrder({ jobId, orderId }: JobStep): Promise<FulfillmentStatus> {
      const attempt = await attemptOrderEmail(deps, { orderId, kind: 'delivery' });
      let completed;
      try {
        completed = await completeOrderDelivery(db, {
          jobId,
          idempotencyKey: attempt.idempotencyKey,
          sent: attempt.sent,
          // Queued for export (ANALYTICS_SINK) in the same statement.
          analytics: {
            events: analyticsEventRows(fulfilledOrderAnalytics(orderId, attempt.order)),
            exportTopic: analytics.exportTopic,
          },
        });
      } catch (error) {
        throw ApplicationFailure.retryable(
          `the receipt went out, recording the delivery failed: ${error instanceof Error ? error.message : String(error)}`,
          DELIVERY_NOT_RECORDED,
        );
      }
      if (completed.sentAt) observeReceiptLatency(attempt.order.paid_at, completed.sentAt);
      return completed.status;
    },

    /** Records that a step keeps failing (the job shows `pending_retry` until it recovers). */
    async markJobRetrying({
      jobId,
      step,
      error,
    }: {
      jobId: string;
      step: string;
      error: string;
    }): Promise<FulfillmentStatus> {
      const job = await transitionJob(
        db,
        jobId,
        'pending_retry',
        { step, error },
        { lastError: error },
      );
      return job.status;
    },

    /**
     * A failure no retry can fix: the job (when there is one) needs attention, counted in
     * `fulfillment_jobs_failed_total` where it happens (a scrape reads no table); one alert.
     */
    async flagNeedsAttention(problem: NeedsAttention): Promise<void> {
      if (problem.jobId) {
        await transitionJob(
          db,
          problem.jobId,
          'needs_attention',
          { type: problem.type, error: problem.message },
          { lastError: problem.message },
        );
        fulfillmentJobsFailed.inc();
      }
      await raiseAlert(db, alerts, {
        key: `needs_attention:${problem.workflowId}:${problem.type}`,
        kind: 'fulfillment.needs_attention',
        severity: 'critical',
        summary: `${problem.workflowId} needs attention: ${problem.message}`,
        jobId: problem.jobId,
        detail: { ...problem },
      });
    },

    // The steps of runs started before the lean shape (workflows/fulfillment-before-lean.ts):
    // kept registered so those runs finish; remove with that file.

    /** @deprecated Runs before the lean shape: the storage check alone. */
    async verifyAssets({ jobId, orderId }: JobStep): Promise<FulfillmentStatus> {
      const items = await listOrderProducts(db, orderId);
      const keys = items.flatMap((item) =>
        item.formats.map((format) => productStoragePath(item, format)),
      );
      await requireStoredFiles(storage, keys);
      const job = await transitionJob(db, jobId, 'pending_entitlement', {
        step: 'verify_assets',
        files: keys.length,
      });
      return job.status;
    },

    /** @deprecated Runs before the lean shape: activation without the storage check. */
    async activateEntitlements({ jobId, orderId }: JobStep): Promise<ActivatedEntitlements> {
      const purchaseKey = await findOrderPurchaseKey(db, orderId);
      return activateOrderEntitlements(db, { jobId, orderId, purchaseKey }, null);
    },

    /** @deprecated Runs before the lean shape: analytics as a step of its own. */
    async emitAnalytics({ orderId }: JobStep): Promise<void> {
      await recordFulfillmentAnalytics(db, analytics, orderId);
    },

    /** @deprecated Runs before the lean shape: completion as a step of its own. */
    async completeJob({ jobId }: JobStep): Promise<FulfillmentStatus> {
      const job = await transitionJob(db, jobId, 'completed', { step: 'complete' });
      return job.status;
    },
  };
}

export type FulfillmentActivities = ReturnType<typeof createFulfillmentActivities>;
